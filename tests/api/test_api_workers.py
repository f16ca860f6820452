"""Server worker processes: one listening socket each on a shared port, supervised."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from article6.api.workers import (
    WorkerPool,
    WorkerStartError,
    listening_sockets,
)

LOOPBACK = "127.0.0.1"
WAIT_S = 60.0
CONNECTIONS = 40  # all on one of two sockets by chance: 2 ** -39


def _answer_with_pid(listening: socket.socket) -> None:
    """A minimal worker: answers every connection with its process id."""
    while True:
        connection, _ = listening.accept()
        with connection:
            connection.sendall(str(os.getpid()).encode())


def _fail_at_start(listening: socket.socket) -> None:
    del listening
    raise SystemExit(3)


def _served_by(port: int) -> int:
    with socket.create_connection((LOOPBACK, port), timeout=WAIT_S) as connection:
        return int(connection.recv(64))


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sockets_share_one_port_and_the_kernel_spreads_connections_over_them() -> None:
    sockets = listening_sockets(LOOPBACK, 0, 2)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1
        port = ports.pop()
        clients = [socket.create_connection((LOOPBACK, port)) for _ in range(CONNECTIONS)]
        accepted = []
        for listening in sockets:
            listening.setblocking(False)
            count = 0
            while True:
                try:
                    connection, _ = listening.accept()
                except BlockingIOError:
                    break
                connection.close()
                count += 1
            accepted.append(count)
        for client in clients:
            client.close()
        assert sum(accepted) == CONNECTIONS
        assert min(accepted) > 0, f"one socket took every connection: {accepted}"
    finally:
        for listening in sockets:
            listening.close()


def test_a_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        listening_sockets(LOOPBACK, 0, 0)


def test_the_pool_serves_from_every_worker_restarts_a_dead_one_and_stops_them_all() -> None:
    pool = WorkerPool(_answer_with_pid, listening_sockets(LOOPBACK, 0, 2), startup_s=0.0)
    port = int(pool.sockets[0].getsockname()[1])
    supervisor = threading.Thread(target=pool.supervise, kwargs={"poll_s": 0.05})
    pool.start()
    supervisor.start()
    try:
        pids = {p.pid for p in pool.started()}
        assert {_served_by(port) for _ in range(CONNECTIONS)} == pids
        victim = pool.started()[0]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        _until(lambda: pool.restarts == 1 and len(pool.alive()) == 2, "the dead worker returns")
        replacement = {p.pid for p in pool.started()} - pids
        assert len(replacement) == 1
        served = {_served_by(port) for _ in range(CONNECTIONS)}
        assert served == {p.pid for p in pool.started()}
    finally:
        pool.request_stop()
        supervisor.join(WAIT_S)
        pool.stop(grace_s=5.0)
        pool.close_sockets()
    assert not supervisor.is_alive()
    assert pool.alive() == []


def test_a_worker_that_dies_while_starting_stops_the_pool_with_an_error() -> None:
    pool = WorkerPool(_fail_at_start, listening_sockets(LOOPBACK, 0, 2))
    pool.start()
    try:
        with pytest.raises(WorkerStartError, match="exited with code 3 while starting"):
            pool.supervise(poll_s=0.05)
    finally:
        pool.stop(grace_s=5.0)
        pool.close_sockets()
    assert pool.alive() == []


def test_serve_with_two_workers_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for the server
        probe.bind((LOOPBACK, 0))
        port = int(probe.getsockname()[1])
    environment = {**os.environ, "ARTICLE6_KEY_DIR": str(tmp_path / "keys")}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("article6")),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--database-url",
            f"sqlite:///{tmp_path / 'served.db'}",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://{LOOPBACK}:{port}/openapi.json").status_code == 200
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                return False

        _until(answers, "the server answers")
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, output
    assert "2 worker processes" in output
