"""API load: concurrent clients on loopback against the same operations called directly.

The reference case is loaded into three identical databases (temporary SQLite
files, or with `--database-url` PostgreSQL schemas that are dropped
afterwards). On the first, the service layer is called directly (holdings
read, then a 1 t transfer, in a loop) to give the baseline throughput. On the
others a uvicorn server listens on 127.0.0.1 (an ephemeral port) in
`--workers` processes, each on a listening socket of its own bound to that
port (default: one per core, as `article6 serve --workers` runs them), and
`--clients` concurrent aiohttp clients in this process, signed in with a
bearer API token, run the same operations through the REST API, in two ways:

* saturated: a closed loop without think time, every client sending its next
  request as soon as the last one is answered. This measures the API's
  capacity, so its throughput is what the throughput target compares. Its
  latency is queueing by construction: with every client always waiting,
  latency = clients / throughput (Little's law), so 50 clients reach a p99
  under 100 ms only above 500 operations per second, whatever the server does.
* paced: the clients together offer a fixed rate, half the direct throughput
  measured just before, each sending on a schedule. This is the load of the
  target, "at least 50 % of the direct throughput, with p99 under 100 ms at
  50 clients"; its p99 is what the latency target compares. Latency is taken
  from each request's scheduled time, so a request that had to wait for its
  client's previous one counts that wait too.

The direct baseline is one thread of one process. Python runs one handler at a
time per process, so the server uses its cores through worker processes; the
saturated run is also made with a single worker and reported beside the others
(`api_one_worker`, no target), to show what one process does. The load
generator runs in another process than the server so that its own work is not
charged to the server, but on the same cores. Runs stop after `--operations` operations
or `--seconds` seconds, whichever comes first. The last line printed is one
JSON object holding every figure, baseline and ratio.

    python benchmarks/api_load.py [--clients 50] [--operations 4000] [--seconds 30]
                                  [--workers N] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("ARTICLE6_FAST_PASSWORD_HASH", "1")

import aiohttp
import httpx
import uvicorn
from sqlalchemy import create_engine, text

from article6.api.app import create_app
from article6.api.workers import WorkerPool, listening_sockets
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
PACED_SHARE = 0.5  # the paced run offers this share of the direct throughput
TARGET_RATIO = 0.5
TARGET_P99_MS = 100
SUSTAINED = 0.95  # the paced run keeps up if it completes this share of the offered rate
SERVER_START_S = 60


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


@contextmanager
def databases(database_url: str | None, folder: Path, count: int) -> Iterator[list[str]]:
    """`count` empty, migrated databases: SQLite files in `folder`, or PostgreSQL schemas."""
    if database_url is None:
        urls = [f"sqlite:///{folder / f'registry-{n}.db'}" for n in range(count)]
        for url in urls:
            _migrate(url)
        yield urls
        return
    schemas = [f"bench_api_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    admin = create_engine(database_url)
    try:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in database_url else "?"
        urls = [f"{database_url}{separator}options=-csearch_path%3D{s}" for s in schemas]
        for url in urls:
            _migrate(url)
        yield urls
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def prepare(url: str, key_dir: Path) -> None:
    """The reference case plus a second Korean holding account to transfer into."""
    engine = make_engine(url)
    cast = load_reference_workflow(engine, key_dir)
    setup.open_account(
        engine,
        actor=cast["kor-registry"],
        account=Account(TARGET, "KOR01", AccountKind.HOLDING, "KOR", "Benchmark holding"),
    )
    engine.dispose()


def _transfer_arguments() -> dict[str, Any]:
    return {
        "from_account": SOURCE,
        "to_account": TARGET,
        "selection": actions.Selection(APPROACH_ID, 2025, 1),
        "action_date": ACTION_DATE,
    }


def run_direct(url: str, operations: int, seconds: float) -> Run:
    """The baseline: the same loop through the service layer, no HTTP."""
    engine = make_engine(url)
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
    engine.dispose()
    return run


def _serve(url: str, key_dir: Path, listening: socket.socket) -> None:
    """A server process: the application on its listening socket."""
    config = uvicorn.Config(
        create_app(url, key_dir), log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[listening])


class ServerProcess:
    """The application on 127.0.0.1 and an ephemeral port in `workers` processes,
    each on a listening socket of its own, as `article6 serve --workers` runs it."""

    def __init__(self, url: str, key_dir: Path, workers: int) -> None:
        sockets = listening_sockets(LOOPBACK, 0, workers)
        self.port = int(sockets[0].getsockname()[1])
        self.pool = WorkerPool(partial(_serve, url, key_dir), sockets)

    def __enter__(self) -> ServerProcess:
        self.pool.start()
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                httpx.get(f"http://{LOOPBACK}:{self.port}/openapi.json", timeout=5)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or len(self.pool.alive()) < len(self.pool.sockets):
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)

    def __exit__(self, *_: object) -> None:
        self.pool.stop()
        self.pool.close_sockets()


class Client:
    """One API client on one keep-alive connection: reads holdings and transfers 1 t,
    alternately. aiohttp, not httpx: it costs the client a fraction of the CPU per
    request, and the clients share the server's cores."""

    def __init__(self, base_url: str, token: str, run: Run) -> None:
        self.http = aiohttp.ClientSession(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        self.run = run
        self.body = json.dumps(
            {
                "from_account": SOURCE,
                "to_account": TARGET,
                "selection": {"approach_id": APPROACH_ID, "vintage": 2025, "quantity_t": 1},
                "action_date": ACTION_DATE.isoformat(),
            }
        ).encode()
        self.params: dict[str, str | int] = {"registry_id": "KOR01", "limit": READ_LIMIT}

    async def warm_up(self) -> None:
        """Connect and read once, uncounted: the runs measure a server that is up and warm."""
        async with self.http.get("/api/v1/registry/holdings", params=self.params) as response:
            await response.read()
            response.raise_for_status()

    async def operate(self, kind: str, since: float) -> None:
        """One operation; its latency is counted from `since`."""
        if kind == "read":
            request = self.http.get("/api/v1/registry/holdings", params=self.params)
        else:
            request = self.http.post(
                "/api/v1/registry/transfers",
                data=self.body,
                headers={"Content-Type": "application/json"},
            )
        async with request as response:
            await response.read()
        self.run.latencies[kind].append(time.perf_counter() - since)
        self.run.errors += response.status != 200

    async def close(self) -> None:
        await self.http.close()


async def _saturated(client: Client, budget: list[int], deadline: float) -> None:
    while budget[0] > 0 and time.perf_counter() < deadline:
        budget[0] -= 2
        for kind in ("read", "transfer"):
            await client.operate(kind, time.perf_counter())


async def _paced(client: Client, schedule: list[float]) -> None:
    for number, moment in enumerate(schedule):
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        await client.operate("read" if number % 2 == 0 else "transfer", moment)


async def _drive(
    base_url: str, token: str, clients: int, operations: int, seconds: float, rate: float | None
) -> Run:
    """Saturated when `rate` is None, else `rate` operations per second in all."""
    run = Run()
    pool = [Client(base_url, token, run) for _ in range(clients)]
    await asyncio.gather(*(client.warm_up() for client in pool))
    started = time.perf_counter()
    if rate is None:
        budget, deadline = [operations], started + seconds
        work = [_saturated(client, budget, deadline) for client in pool]
    else:
        total = min(operations, max(clients, int(rate * seconds)))
        moments = [started + n / rate for n in range(total)]
        work = [_paced(client, moments[i::clients]) for i, client in enumerate(pool)]
    await asyncio.gather(*work)
    run.elapsed_s = time.perf_counter() - started
    for client in pool:
        await client.close()
    return run


def run_api(
    url: str,
    key_dir: Path,
    workers: int,
    clients: int,
    operations: int,
    seconds: float,
    rate: float | None,
) -> Run:
    engine = make_engine(url)
    token, _ = identity.issue_api_token(
        engine, actor=identity.load_actor(engine, "kor-registry"), label="api load benchmark"
    )
    engine.dispose()
    with ServerProcess(url, key_dir, workers) as server:
        base_url = f"http://{LOOPBACK}:{server.port}"
        return asyncio.run(_drive(base_url, token, clients, operations, seconds, rate))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--operations", type=int, default=4000, help="Reads plus transfers")
    parser.add_argument("--seconds", type=float, default=30.0, help="Time limit per run")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="Server processes (default: cores)"
    )
    parser.add_argument(
        "--database-url", help="A PostgreSQL database to run on (a schema per run, dropped after)"
    )
    parser.add_argument("--quick", action="store_true", help="5 clients, 40 operations")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.operations, args.seconds = 5, 40, 30.0
    with tempfile.TemporaryDirectory(prefix="article6-api-load-") as temporary:
        folder = Path(temporary)
        with databases(args.database_url, folder, 4) as urls:
            print("Loading the reference case…", file=sys.stderr)
            for url in urls:
                prepare(url, folder / "keys")
            direct = run_direct(urls[0], args.operations, args.seconds)
            load = (args.clients, args.operations, args.seconds)
            print(f"Saturated API run, {args.workers} worker(s)…", file=sys.stderr)
            saturated = run_api(urls[1], folder / "keys", args.workers, *load, None)
            rate = PACED_SHARE * direct.operations() / direct.elapsed_s
            print(f"Paced API run at {rate:.0f} operations/s…", file=sys.stderr)
            paced = run_api(urls[2], folder / "keys", args.workers, *load, rate)
            print("Saturated API run, one worker…", file=sys.stderr)
            one_worker = run_api(urls[3], folder / "keys", 1, *load, None)
    summary = _summary(args, direct, saturated, paced, one_worker, rate)
    _print_table(summary)
    print(json.dumps(summary))
    return 0 if saturated.errors + paced.errors + one_worker.errors == 0 else 1


def _summary(
    args: argparse.Namespace, direct: Run, saturated: Run, paced: Run, one_worker: Run, rate: float
) -> dict[str, Any]:
    base = direct.figures()["throughput_ops_s"]
    api, api_paced = saturated.figures(), paced.figures()
    ratio = api["throughput_ops_s"] / base
    sustained = api_paced["throughput_ops_s"] / rate
    return {
        "benchmark": "api_load",
        "backend": "sqlite" if args.database_url is None else "postgresql",
        "clients": args.clients,
        "workers": args.workers,
        "operation_budget": args.operations,
        "seconds_limit": args.seconds,
        "direct": direct.figures(),
        "api": api,
        "api_paced": {"offered_ops_s": round(rate, 1), **api_paced},
        "api_one_worker": one_worker.figures(),
        "throughput_ratio": round(ratio, 3),
        "one_worker_throughput_ratio": round(one_worker.figures()["throughput_ops_s"] / base, 3),
        "paced_throughput_ratio": round(api_paced["throughput_ops_s"] / base, 3),
        "paced_sustained": round(sustained, 3),
        "target_ratio": TARGET_RATIO,
        "target_p99_ms": TARGET_P99_MS,
        "ratio_measured_on": "api (saturated closed loop: capacity)",
        "p99_measured_on": "api_paced (fixed rate of half the direct throughput)",
        "meets_ratio": ratio >= TARGET_RATIO,
        "meets_p99": (
            sustained >= SUSTAINED
            and api_paced["p99_ms"] is not None
            and api_paced["p99_ms"] < TARGET_P99_MS
        ),
        "saturated_meets_p99": api["p99_ms"] is not None and api["p99_ms"] < TARGET_P99_MS,
    }


def _print_table(summary: dict[str, Any]) -> None:
    print(f"{'':34} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    rows = (
        ("direct (service layer)", summary["direct"]),
        (f"API saturated, {summary['workers']} worker(s)", summary["api"]),
        (
            f"API paced ({summary['api_paced']['offered_ops_s']} ops/s offered)",
            summary["api_paced"],
        ),
        ("API saturated, one worker", summary["api_one_worker"]),
    )
    for name, figures in rows:
        print(
            f"{name:34} {figures['operations']:>6} {figures['throughput_ops_s']:>9.1f} "
            f"{figures['p50_ms']:>8} {figures['p99_ms']:>8}"
        )
    clients = summary["clients"]
    print(
        f"Capacity: the saturated API keeps {summary['throughput_ratio']:.0%} of the direct "
        f"throughput (target >= 50 %): {'met' if summary['meets_ratio'] else 'missed'}."
    )
    print(
        f"Latency at the target load: {clients} clients offering half the direct throughput "
        f"get p99 {summary['api_paced']['p99_ms']} ms (target < 100 ms) with "
        f"{summary['paced_sustained']:.0%} of the offered rate served: "
        f"{'met' if summary['meets_p99'] else 'missed'}."
    )
    print(
        f"One worker process keeps {summary['one_worker_throughput_ratio']:.0%} (no target). "
        f"Saturated p99 {summary['api']['p99_ms']} ms is queueing: {clients} clients that never "
        f"pause wait about {clients} / throughput each; it is reported, not targeted. "
        f"Errors: {sum(summary[k]['errors'] for k in ('api', 'api_paced', 'api_one_worker'))}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
