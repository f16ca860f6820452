"""Registry throughput: the journalled ledger against baselines measured in the same run.

(a) Transfers per second through the service (one partial transfer of 1 t per
    command: journal head lock, block split and move, balances, one hash-chained
    journal event, one commit), against the rate of a bare transaction that
    updates one row, through the same engine and driver on the same database.
    Both are timed in alternating rounds so that machine noise hits both.
    Target on PostgreSQL: ratio >= 0.3.
(b) Verification speed: `verify` (hash chain, replay of every block operation,
    invariants, comparison with the projections) against reading the journal
    bodies from the same database and SHA-256 chaining them, checking each
    stored hash. Same events, same bytes. Target: ratio >= 0.2.
(c) Holdings queries after `--fragments` partial transfers have split one
    issuance into that many blocks, against the same queries right after the
    issuance: `queries.balances` of the source account and the held blocks of
    the source account as the transfer service loads them. The "right after
    issuance" side is a second database holding the same issuance unfragmented,
    timed alternately with the fragmented one so that machine noise hits both
    (the same queries timed on the main database before fragmenting are also
    reported, as `*_sequential`). Target: <= 3x.

Each backend gets a fresh database: a temporary SQLite file, or a dedicated
PostgreSQL schema that is dropped afterwards. The last line printed is one
JSON object holding every figure, baseline, ratio and whether its target is met.

    python benchmarks/registry_throughput.py [--backend sqlite|postgresql|both]
        [--transfers N] [--fragments N] [--quick] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

from article6.domain.model import Account, AccountKind
from article6.services import actions, queries, reference_case, setup, verify
from article6.store import tables as t
from article6.store.database import make_engine
from article6.store.ledger_store import LedgerTransaction
from article6.store.migrate import upgrade

APPROACH = reference_case.APPROACH_ID
VINTAGE = 2025
SOURCE, TARGET = "KOR01-HOLDING", "KOR01-BENCH"
ACTOR = reference_case.KOR_REGISTRY
TRANSFER_TARGET = 0.3  # PostgreSQL, transfers/s over bare updates/s
VERIFY_TARGET = 0.2  # verify events/s over read + SHA-256 chain events/s
HOLDINGS_TARGET = 3.0  # query time after fragmentation over time after issuance
ROUNDS = 5
QUERY_REPEATS = 31
VERIFY_RUNS = 3  # best of, for verify and its baseline alike
FETCH_ROWS = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- databases ------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, postgres_url: str | None) -> Iterator[str]:
    """A migrated, empty database for one backend; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="a6bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'registry.db'}"
            _migrate(url)
            yield url
        return
    if not postgres_url:
        raise SystemExit("PostgreSQL needs --postgres-url or ARTICLE6_TEST_POSTGRES_URL")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in postgres_url else "?"
        url = f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
        _migrate(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def prepare(engine: Engine, key_dir: Path, units: int) -> None:
    """The reference setup, and one issuance of `units` t first transferred whole to Korea."""
    reference_case.load_setup(engine, key_dir)
    setup.open_account(
        engine,
        actor=ACTOR,
        account=Account(TARGET, "KOR01", AccountKind.HOLDING, "KOR", "Benchmark acquirer"),
    )
    actions.issue_units(
        engine,
        actor=reference_case.KHM_REGISTRY,
        approach_id=APPROACH,
        registry_id="KHM01",
        vintage=VINTAGE,
        quantity_t=units,
        action_date=date(2026, 3, 2),
        authorization_id=reference_case.AUTHORIZATION_ID,
    )
    actions.first_transfer(
        engine,
        actor=reference_case.KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account=SOURCE,
        selection=actions.Selection(APPROACH, VINTAGE, units),
        authorization_id=reference_case.AUTHORIZATION_ID,
        action_date=date(2026, 3, 3),
    )


# -- (a) transfers against bare updates --------------------------------------------------


def transfer_once(engine: Engine) -> None:
    actions.transfer(
        engine,
        actor=ACTOR,
        from_account=SOURCE,
        to_account=TARGET,
        selection=actions.Selection(APPROACH, VINTAGE, 1),
        action_date=date(2026, 4, 1),
    )


def bare_update_once(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE bench_counter SET n = n + 1 WHERE id = 1"))


def create_counter(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n BIGINT)"))
        connection.execute(text("INSERT INTO bench_counter (id, n) VALUES (1, 0)"))


def drop_counter(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE bench_counter"))


def repeat(action: Callable[[Engine], None], engine: Engine, times: int) -> float:
    started = time.perf_counter()
    for _ in range(times):
        action(engine)
    return time.perf_counter() - started


def measure_transfers(engine: Engine, transfers: int) -> dict[str, Any]:
    """Alternate rounds of bare updates and service transfers; rates over all rounds."""
    per_round = max(1, transfers // ROUNDS)
    repeat(bare_update_once, engine, min(20, per_round))  # warm both paths up
    transfer_s = update_s = 0.0
    done = 0
    for _ in range(ROUNDS):
        update_s += repeat(bare_update_once, engine, per_round)
        transfer_s += repeat(transfer_once, engine, per_round)
        done += per_round
    transfers_per_s = done / transfer_s
    updates_per_s = done / update_s
    return {
        "transfers": done,
        "transfers_per_s": transfers_per_s,
        "baseline_updates_per_s": updates_per_s,
        "ratio": transfers_per_s / updates_per_s,
    }


# -- (b) verify against reading and hashing the same bytes ------------------------------


def chain_bytes(engine: Engine) -> tuple[int, int]:
    """Read every journal body from the database and SHA-256 chain them, checking hashes."""
    events = size = 0
    previous = "0" * 64
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=FETCH_ROWS).execute(
            select(t.journal.c.body, t.journal.c.prev_hash, t.journal.c.hash).order_by(
                t.journal.c.seq
            )
        )
        for body, prev_hash, stored in rows:
            data = body.encode("utf-8")
            if prev_hash != previous:
                raise RuntimeError(f"chain broken before event {events + 1}")
            previous = hashlib.sha256(previous.encode("ascii") + data).hexdigest()
            if previous != stored:
                raise RuntimeError(f"hash of event {events + 1} differs")
            events += 1
            size += len(data)
    return events, size


def best_of(runs: int, action: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure_verify(engine: Engine, runs: int) -> dict[str, Any]:
    baseline_s, (events, size) = best_of(runs, lambda: chain_bytes(engine))
    verify_s, report = best_of(runs, lambda: verify.verify(engine))
    if not report.ok:
        raise RuntimeError(f"verify failed: {report.problem}")
    if report.events != events:
        raise RuntimeError(f"verify saw {report.events} events, the baseline {events}")
    return {
        "events": events,
        "bytes": size,
        "verify_s": verify_s,
        "events_per_s": events / verify_s,
        "bytes_per_s": size / verify_s,
        "baseline_s": baseline_s,
        "baseline_events_per_s": events / baseline_s,
        "baseline_bytes_per_s": size / baseline_s,
        "ratio": baseline_s / verify_s,
    }


# -- (c) holdings queries before and after fragmentation ---------------------------------


def median_time(action: Callable[[], Any], repeats: int = QUERY_REPEATS) -> float:
    for _ in range(3):
        action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def holdings_times(engine: Engine) -> dict[str, Any]:
    balances_s = median_time(lambda: queries.balances(engine, SOURCE))
    with engine.connect() as connection:
        # The service's own read of the source's held blocks, inside one open
        # transaction (it takes the head lock once); rolled back, nothing is written.
        tx = LedgerTransaction(connection, ACTOR.user_id)
        held = tx.held_blocks(SOURCE, APPROACH, VINTAGE)
        held_s = median_time(lambda: tx.held_blocks(SOURCE, APPROACH, VINTAGE))
        target_held = len(tx.held_blocks(TARGET, APPROACH, VINTAGE))
        connection.rollback()
        blocks = connection.execute(select(func.count()).select_from(t.blocks)).scalar_one()
    return {
        "balances_s": balances_s,
        "held_blocks_s": held_s,
        "source_held_blocks": len(held),
        "target_held_blocks": target_held,
        "block_rows": blocks,
    }


def paired_medians(
    fragmented: Callable[[], Any], reference: Callable[[], Any], repeats: int = QUERY_REPEATS
) -> tuple[float, float]:
    """Median times of two queries timed alternately (order swapped each round)."""
    for _ in range(3):
        fragmented()
        reference()
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            started = time.perf_counter()
            (fragmented if which == 0 else reference)()
            times[which].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def paired_holdings(engine: Engine, reference: Engine) -> dict[str, float]:
    """Holdings queries on the fragmented database against the unfragmented reference."""
    balances_after, balances_before = paired_medians(
        lambda: queries.balances(engine, SOURCE), lambda: queries.balances(reference, SOURCE)
    )
    with engine.connect() as connection, reference.connect() as reference_connection:
        tx = LedgerTransaction(connection, ACTOR.user_id)
        reference_tx = LedgerTransaction(reference_connection, ACTOR.user_id)
        held_after, held_before = paired_medians(
            lambda: tx.held_blocks(SOURCE, APPROACH, VINTAGE),
            lambda: reference_tx.held_blocks(SOURCE, APPROACH, VINTAGE),
        )
        connection.rollback()
        reference_connection.rollback()
    return {
        "balances_s_before": balances_before,
        "balances_s_after": balances_after,
        "held_blocks_s_before": held_before,
        "held_blocks_s_after": held_after,
    }


def transfer_back_s(engine: Engine) -> float:
    """One 1 t transfer out of the account that received every fragment (median of 3)."""

    def back() -> None:
        actions.transfer(
            engine,
            actor=ACTOR,
            from_account=TARGET,
            to_account=SOURCE,
            selection=actions.Selection(APPROACH, VINTAGE, 1),
            action_date=date(2026, 4, 2),
        )

    times = []
    for _ in range(3):
        started = time.perf_counter()
        back()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fragment(engine: Engine, count: int, already: int) -> dict[str, Any]:
    """Run partial transfers until `count` have been made; time the last stretch."""
    remaining = count - already
    tail = min(remaining, 1000)
    step = max(1, remaining // 10)
    for i in range(remaining - tail):
        transfer_once(engine)
        if (i + 1) % step == 0:
            log(f"    {already + i + 1:,} of {count:,} transfers")
    tail_s = repeat(transfer_once, engine, tail) if tail else 0.0
    return {"late_transfers": tail, "late_transfers_per_s": tail / tail_s if tail else None}


# -- one backend ---------------------------------------------------------------------------


def run_backend(
    backend: str, postgres_url: str | None, transfers: int, fragments: int
) -> dict[str, Any]:
    with (
        fresh_database(backend, postgres_url) as url,
        fresh_database(backend, postgres_url) as reference_url,
        tempfile.TemporaryDirectory() as keys,
    ):
        engine, reference = make_engine(url), make_engine(reference_url)
        try:
            log(f"{backend}: setup, issuance of {fragments + 10:,} t (and a reference copy)")
            prepare(engine, Path(keys), fragments + 10)
            prepare(reference, Path(keys), fragments + 10)
            before = holdings_times(engine)

            log(f"{backend}: {transfers:,} transfers against bare updates")
            create_counter(engine)
            throughput = measure_transfers(engine, transfers)
            drop_counter(engine)

            log(f"{backend}: fragmenting the issuance with {fragments:,} partial transfers")
            late = fragment(engine, fragments, throughput["transfers"])
            after = holdings_times(engine)
            paired = paired_holdings(engine, reference)
            back_s = transfer_back_s(engine)

            log(f"{backend}: verify against read + SHA-256 over {fragments:,}+ events")
            checked = measure_verify(engine, VERIFY_RUNS)
        finally:
            engine.dispose()
            reference.dispose()

    transfer_target = TRANSFER_TARGET if backend == "postgresql" else None
    throughput.update(late)
    throughput["target_min"] = transfer_target
    throughput["target_met"] = (
        None if transfer_target is None else throughput["ratio"] >= transfer_target
    )
    checked["target_min"] = VERIFY_TARGET
    checked["target_met"] = checked["ratio"] >= VERIFY_TARGET
    holdings = {
        "fragments": fragments,
        "block_rows_before": before["block_rows"],
        "block_rows_after": after["block_rows"],
        "source_held_blocks_after": after["source_held_blocks"],
        "target_held_blocks_after": after["target_held_blocks"],
        "transfer_from_target_s": back_s,
        **paired,
        "balances_ratio": paired["balances_s_after"] / paired["balances_s_before"],
        "held_blocks_ratio": paired["held_blocks_s_after"] / paired["held_blocks_s_before"],
        "balances_s_before_sequential": before["balances_s"],
        "balances_s_after_sequential": after["balances_s"],
        "balances_ratio_sequential": after["balances_s"] / before["balances_s"],
        "held_blocks_s_before_sequential": before["held_blocks_s"],
        "held_blocks_s_after_sequential": after["held_blocks_s"],
        "held_blocks_ratio_sequential": after["held_blocks_s"] / before["held_blocks_s"],
        "target_max": HOLDINGS_TARGET,
    }
    holdings["target_met"] = (
        holdings["balances_ratio"] <= HOLDINGS_TARGET
        and holdings["held_blocks_ratio"] <= HOLDINGS_TARGET
    )
    return {"transfers": throughput, "verify": checked, "holdings": holdings}


# -- report --------------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "-" if met is None else ("met" if met else "MISSED")


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'backend':<11} {'figure':<38} {'value':>14} {'baseline':>14} {'ratio':>8} "
        f"{'target':>8} {'':>6}",
        "-" * 105,
    ]
    for backend, r in results.items():
        a, b, c = r["transfers"], r["verify"], r["holdings"]
        target_a = "-" if a["target_min"] is None else f">={a['target_min']}"
        rows = [
            (
                "transfers/s vs bare UPDATE txn/s",
                f"{a['transfers_per_s']:,.1f}",
                f"{a['baseline_updates_per_s']:,.1f}",
                f"{a['ratio']:.3f}",
                target_a,
                verdict(a["target_met"]),
            ),
            (
                f"  after {c['fragments']:,} fragments (transfers/s)",
                "-" if a["late_transfers_per_s"] is None else f"{a['late_transfers_per_s']:,.1f}",
                "",
                "",
                "",
                "",
            ),
            (
                "verify events/s vs read+SHA-256 chain",
                f"{b['events_per_s']:,.0f}",
                f"{b['baseline_events_per_s']:,.0f}",
                f"{b['ratio']:.3f}",
                f">={b['target_min']}",
                verdict(b["target_met"]),
            ),
            (
                "  verify MB/s vs read+SHA-256 chain",
                f"{b['bytes_per_s'] / 1e6:,.2f}",
                f"{b['baseline_bytes_per_s'] / 1e6:,.2f}",
                "",
                "",
                "",
            ),
            (
                "balances(source) ms, after vs issued",
                f"{c['balances_s_after'] * 1e3:.3f}",
                f"{c['balances_s_before'] * 1e3:.3f}",
                f"{c['balances_ratio']:.2f}x",
                f"<={c['target_max']:.0f}x",
                verdict(c["balances_ratio"] <= c["target_max"]),
            ),
            (
                "held blocks(source) ms, after vs issued",
                f"{c['held_blocks_s_after'] * 1e3:.3f}",
                f"{c['held_blocks_s_before'] * 1e3:.3f}",
                f"{c['held_blocks_ratio']:.2f}x",
                f"<={c['target_max']:.0f}x",
                verdict(c["held_blocks_ratio"] <= c["target_max"]),
            ),
            (
                "  same, timed before fragmenting: bal.",
                f"{c['balances_s_after_sequential'] * 1e3:.3f}",
                f"{c['balances_s_before_sequential'] * 1e3:.3f}",
                f"{c['balances_ratio_sequential']:.2f}x",
                "",
                "",
            ),
            (
                "  same, timed before fragmenting: held",
                f"{c['held_blocks_s_after_sequential'] * 1e3:.3f}",
                f"{c['held_blocks_s_before_sequential'] * 1e3:.3f}",
                f"{c['held_blocks_ratio_sequential']:.2f}x",
                "",
                "",
            ),
        ]
        for figure, value, baseline, ratio, target, met in rows:
            lines.append(
                f"{backend:<11} {figure:<38} {value:>14} {baseline:>14} {ratio:>8} "
                f"{target:>8} {met:>6}"
            )
        lines.append(
            f"{'':<11} ({b['events']:,} events, {b['bytes'] / 1e6:,.1f} MB; "
            f"{c['block_rows_after']:,} block rows, source holds "
            f"{c['source_held_blocks_after']} block(s) after fragmentation)"
        )
        lines.append(
            f"{'':<11} (info, no target: the receiving account holds "
            f"{c['target_held_blocks_after']:,} blocks; one 1 t transfer out of it takes "
            f"{c['transfer_from_target_s'] * 1e3:,.1f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--transfers", type=int, default=None, help="transfers timed in (a)")
    parser.add_argument("--fragments", type=int, default=None, help="partial transfers for (c)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ARTICLE6_TEST_POSTGRES_URL"),
        help="PostgreSQL database to create a scratch schema in",
    )
    args = parser.parse_args(argv)
    # A terminated run still drops its PostgreSQL schema and temporary files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    transfers = args.transfers or (50 if args.quick else 2_000)
    fragments = args.fragments or (200 if args.quick else 100_000)
    if fragments < transfers:
        parser.error("--fragments must be at least --transfers")
    if fragments + 10 > reference_case.REFERENCE_LOA.quantity_cap_t:
        parser.error("--fragments must stay within the reference authorization's cap")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    results = {
        backend: run_backend(backend, args.postgres_url, transfers, fragments)
        for backend in backends
    }
    print(table(results))
    targets = [
        r[part]["target_met"]
        for r in results.values()
        for part in ("transfers", "verify", "holdings")
        if r[part]["target_met"] is not None
    ]
    figures = {
        "benchmark": "registry_throughput",
        "quick": args.quick,
        "transfers": transfers,
        "fragments": fragments,
        "backends": results,
        "all_targets_met": all(targets),
    }
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
