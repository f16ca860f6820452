"""Several server processes on one port, each listening on a socket of its own.

When all processes accept from one shared socket, whichever wakes first
takes a whole burst of new connections: fifty clients connecting together
ended up 41 to 9, or 48 to 2, between two processes, and the busier process
fell behind at a load the pair could carry twice over. Here every process
listens on its own socket bound to the same port with ``SO_REUSEPORT``, and
the kernel spreads new connections over them by a hash of the client's
address and port. The pool restarts a process that dies while serving and
stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

logger = logging.getLogger(__name__)

BACKLOG = 2048
STOP_GRACE_S = 30.0
# A process that dies this soon after it started is failing to start, not
# crashing under load: restarting it would only repeat the failure.
STARTUP_S = 5.0

Serve = Callable[[socket.socket], None]
"""Runs the server on a listening socket until told to stop (a module-level function,
or a partial of one, so that a new process can be given it)."""


class WorkerStartError(RuntimeError):
    """The workers could not start: the port is taken, or a worker exited while
    starting (the pool then stops the others)."""


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on the same address, the kernel balancing between them.

    Port 0 picks a free port for the first socket, which the others share.
    The sockets say they are TCP (``IPPROTO_TCP``) so that the event loop turns
    Nagle's algorithm off on their connections.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listening.bind((host, port))
            listening.listen(BACKLOG)
            port = int(listening.getsockname()[1])
    except OSError:
        for listening in sockets:
            listening.close()
        raise
    return sockets


class WorkerPool:
    """One process per listening socket, each running `serve` on it."""

    def __init__(
        self, serve: Serve, sockets: list[socket.socket], startup_s: float = STARTUP_S
    ) -> None:
        self.serve = serve
        self.startup_s = startup_s
        self.sockets = sockets
        self.processes: list[BaseProcess | None] = [None] * len(sockets)
        self.started_at = [0.0] * len(sockets)
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()

    def start(self) -> None:
        for index in range(len(self.sockets)):
            self._start(index)

    def _start(self, index: int) -> None:
        process = self._context.Process(
            target=self.serve, args=(self.sockets[index],), name=f"article6-worker-{index}"
        )
        process.start()
        self.processes[index] = process
        self.started_at[index] = time.monotonic()

    def started(self) -> list[BaseProcess]:
        return [p for p in self.processes if p is not None]

    def alive(self) -> list[BaseProcess]:
        return [p for p in self.started() if p.is_alive()]

    def supervise(self, poll_s: float = 0.5) -> None:
        """Restart workers that die, until `request_stop` (or a worker fails to start)."""
        while not self._stopping.is_set():
            wait([p.sentinel for p in self.started()], timeout=poll_s)
            for index, process in enumerate(self.processes):
                if process is None or process.is_alive() or self._stopping.is_set():
                    continue
                lived = time.monotonic() - self.started_at[index]
                if lived < self.startup_s:
                    raise WorkerStartError(
                        f"worker {index} exited with code {process.exitcode} while starting "
                        "(its log above says why)"
                    )
                logger.warning(
                    "worker %s exited with code %s; starting a new one", index, process.exitcode
                )
                self.restarts += 1
                self._start(index)

    def request_stop(self) -> None:
        self._stopping.set()

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every worker (uvicorn finishes the requests in flight), then wait."""
        self._stopping.set()
        for process in self.alive():
            process.terminate()
        deadline = time.monotonic() + grace_s
        for process in self.started():
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()

    def close_sockets(self) -> None:
        for listening in self.sockets:
            listening.close()


def serve_factory(factory: str, log_level: str, listening: socket.socket) -> None:
    """A worker process: uvicorn serving the application that `factory` builds."""
    config = uvicorn.Config(
        factory, factory=True, log_level=log_level, access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[listening])


def run_pool(serve: Serve, host: str, port: int, workers: int) -> None:
    """Serve with `workers` processes on host:port until SIGINT or SIGTERM (blocks)."""
    pool = WorkerPool(serve, listening_sockets(host, port, workers))

    def on_signal(number: int, frame: FrameType | None) -> None:
        del number, frame
        pool.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        pool.start()
        pool.supervise()
    finally:
        pool.stop()
        pool.close_sockets()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
