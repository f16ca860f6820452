"""API load: concurrent clients on loopback against the same operations called directly.

The reference case is loaded into two identical SQLite databases. On the first, the
service layer is called directly (holdings read, then a 1 t transfer, in a
loop) to give the baseline throughput. On the second, an in-process uvicorn
server listens on 127.0.0.1 (an ephemeral port) and `--clients` concurrent
httpx clients, signed in with a bearer API token, run the same loop through
the REST API. Both runs stop after `--operations` operations or `--seconds`
seconds, whichever comes first.

Targets: the API keeps at least 50 % of the direct throughput, with p99 latency
under 100 ms at 50 clients. The last line printed is one JSON object holding
every figure, baseline and ratio.

    python benchmarks/api_load.py [--clients 50] [--operations 4000] [--seconds 30]
                                  [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("ARTICLE6_FAST_PASSWORD_HASH", "1")

import httpx
import uvicorn
from sqlalchemy import Engine

from article6.api.app import create_app
from article6.domain.model import Account, AccountKind
from article6.services import actions, identity, queries, setup
from article6.services.reference_workflow import APPROACH_ID, load_reference_workflow
from article6.store.database import make_engine
from article6.store.migrate import upgrade

LOOPBACK = "127.0.0.1"
SOURCE = "KOR01-HOLDING"
TARGET = "KOR01-BENCH"
ACTION_DATE = date(2026, 6, 1)
READ_LIMIT = 100


@dataclass
class Run:
    """Latencies (seconds) per operation kind and the wall time of one run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"read": [], "transfer": []})
    errors: int = 0
    elapsed_s: float = 0.0

    def operations(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def figures(self) -> dict[str, Any]:
        every = [v for values in self.latencies.values() for v in values]
        result: dict[str, Any] = {
            "operations": self.operations(),
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_ops_s": round(self.operations() / self.elapsed_s, 1),
            **_percentiles(every),
        }
        for kind, values in self.latencies.items():
            result[kind] = {"count": len(values), **_percentiles(values)}
        return result


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
    }


def prepare(folder: Path) -> str:
    """The reference case, in SQLite, plus a second Korean holding account to transfer into."""
    url = f"sqlite:///{folder / 'registry.db'}"
    key_dir = folder / "keys"
    engine = make_engine(url)
    upgrade(engine)
    cast = load_reference_workflow(engine, key_dir)
    setup.open_account(
        engine,
        actor=cast["kor-registry"],
        account=Account(TARGET, "KOR01", AccountKind.HOLDING, "KOR", "Benchmark holding"),
    )
    engine.dispose()
    return url


def _transfer_arguments() -> dict[str, Any]:
    return {
        "from_account": SOURCE,
        "to_account": TARGET,
        "selection": actions.Selection(APPROACH_ID, 2025, 1),
        "action_date": ACTION_DATE,
    }


def run_direct(engine: Engine, operations: int, seconds: float) -> Run:
    """The baseline: the same loop through the service layer, no HTTP."""
    actor = identity.load_actor(engine, "kor-registry")
    run = Run()
    started = time.perf_counter()
    while run.operations() < operations and time.perf_counter() - started < seconds:
        moment = time.perf_counter()
        queries.holdings(engine, "KOR01", limit=READ_LIMIT)
        run.latencies["read"].append(time.perf_counter() - moment)
        moment = time.perf_counter()
        actions.transfer(engine, actor=actor, **_transfer_arguments())
        run.latencies["transfer"].append(time.perf_counter() - moment)
    run.elapsed_s = time.perf_counter() - started
    return run


class BackgroundServer:
    """uvicorn serving an app on 127.0.0.1 and an ephemeral port, in a thread."""

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off only on
        # sockets that say they are TCP, and uvicorn writes a response's head and body
        # separately, so with Nagle on every response waits for the client's delayed
        # ACK (40 ms on Linux). `article6 serve` binds through uvicorn and is not affected.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((LOOPBACK, 0))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


async def _client(base_url: str, token: str, run: Run, budget: list[int], deadline: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "from_account": SOURCE,
        "to_account": TARGET,
        "selection": {"approach_id": APPROACH_ID, "vintage": 2025, "quantity_t": 1},
        "action_date": ACTION_DATE.isoformat(),
    }
    params: dict[str, str | int] = {"registry_id": "KOR01", "limit": READ_LIMIT}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 2
            moment = time.perf_counter()
            read = await client.get("/api/v1/registry/holdings", params=params)
            run.latencies["read"].append(time.perf_counter() - moment)
            moment = time.perf_counter()
            moved = await client.post("/api/v1/registry/transfers", json=body)
            run.latencies["transfer"].append(time.perf_counter() - moment)
            run.errors += (read.status_code != 200) + (moved.status_code != 200)


async def _drive(base_url: str, token: str, clients: int, operations: int, seconds: float) -> Run:
    run = Run()
    budget = [operations]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client(base_url, token, run, budget, deadline) for _ in range(clients)))
    run.elapsed_s = time.perf_counter() - started
    return run


def run_api(url: str, key_dir: Path, clients: int, operations: int, seconds: float) -> Run:
    app = create_app(url, key_dir)
    engine: Engine = app.state.engine
    token, _ = identity.issue_api_token(
        engine, actor=identity.load_actor(engine, "kor-registry"), label="api load benchmark"
    )
    with BackgroundServer(app) as server:
        base_url = f"http://{LOOPBACK}:{server.port}"
        run = asyncio.run(_drive(base_url, token, clients, operations, seconds))
    engine.dispose()
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--operations", type=int, default=4000, help="Reads plus transfers")
    parser.add_argument("--seconds", type=float, default=30.0, help="Time limit per run")
    parser.add_argument("--quick", action="store_true", help="5 clients, 40 operations")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.operations, args.seconds = 5, 40, 30.0
    with tempfile.TemporaryDirectory(prefix="article6-api-load-") as temporary:
        folder = Path(temporary)
        (folder / "direct").mkdir()
        print("Loading the reference case…", file=sys.stderr)
        url = prepare(folder / "direct")
        shutil.copytree(folder / "direct", folder / "api")
        api_url = url.replace(str(folder / "direct"), str(folder / "api"))

        direct_engine = make_engine(url)
        direct = run_direct(direct_engine, args.operations, args.seconds)
        direct_engine.dispose()
        api = run_api(api_url, folder / "api" / "keys", args.clients, args.operations, args.seconds)

    direct_figures, api_figures = direct.figures(), api.figures()
    ratio = api_figures["throughput_ops_s"] / direct_figures["throughput_ops_s"]
    print(f"{'':28} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, figures in (("direct (service layer)", direct_figures), ("API", api_figures)):
        print(
            f"{name:28} {figures['operations']:>6} {figures['throughput_ops_s']:>9.1f} "
            f"{figures['p50_ms']:>8} {figures['p99_ms']:>8}"
        )
    print(
        f"API keeps {ratio:.0%} of the direct throughput (target >= 50 %) with "
        f"{args.clients} clients; p99 {api_figures['p99_ms']} ms (target < 100 ms); "
        f"{api.errors} errors"
    )
    summary = {
        "benchmark": "api_load",
        "backend": "sqlite",
        "clients": args.clients,
        "operation_budget": args.operations,
        "seconds_limit": args.seconds,
        "direct": direct_figures,
        "api": api_figures,
        "throughput_ratio": round(ratio, 3),
        "target_ratio": 0.5,
        "target_p99_ms": 100,
        "meets_ratio": ratio >= 0.5,
        "meets_p99": api_figures["p99_ms"] is not None and api_figures["p99_ms"] < 100,
    }
    print(json.dumps(summary))
    return 0 if api.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
