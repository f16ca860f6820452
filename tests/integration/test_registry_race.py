"""Race: eight OS processes spend the same blocks and the same authorization at once.

Each process has its own engine and, behind a barrier, fires 25 transfers out
of one shared holding account and 10 first transfers under one authorization.
Together they ask for more units than are held and more than the cap allows,
so some must be refused. Nothing may be spent twice: the successful receipts
add up to what left the account, their serial ranges never overlap, every
refusal is the expected rule, the cap holds and the journal verifies.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import traceback
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Account, AccountKind, Purpose
from article6.services import actions, queries, reference_case, setup, verify
from article6.store import tables as t
from article6.store.database import make_engine
from database_support import BACKENDS, create_database, drop_schema

WORKERS = 8
TRANSFERS_PER_WORKER = 25
FIRST_TRANSFERS_PER_WORKER = 10  # after the 2nd and 4th of every 5 transfers
HELD_T = 5_000  # first transferred to KOR01-HOLDING before the race
PENDING_T = 450_000  # issued into KHM01-PENDING for the competing first transfers
CAP_T = reference_case.REFERENCE_LOA.quantity_cap_t
APPROACH = reference_case.APPROACH_ID
LOA = reference_case.AUTHORIZATION_ID
KHM_REGISTRY, KOR_REGISTRY = reference_case.KHM_REGISTRY, reference_case.KOR_REGISTRY
SHARED = "KOR01-HOLDING"
ACTION_DAY = date(2026, 5, 4)
BARRIER_TIMEOUT_S = 120
JOIN_TIMEOUT_S = 300


def worker_account(worker: int) -> str:
    return f"KOR01-RACE{worker}"


def transfer_quantity(worker: int, i: int) -> int:
    """20 to 40 t: 200 requests of about 30 t ask for ~6,000 t of the 5,000 t held."""
    return 20 + (worker * TRANSFERS_PER_WORKER + i) % 21


def first_transfer_quantity(worker: int, j: int) -> int:
    """4,000 to 6,400 t: 80 requests ask for ~416,000 t of the 395,000 t left under the cap."""
    return 4_000 + ((worker * FIRST_TRANSFERS_PER_WORKER + j) * 37) % 2_401


def race_worker(url: str, worker: int, barrier: Any, out: str) -> None:
    """One process: its own engine, then transfers and first transfers as fast as it can."""
    outcomes: list[dict[str, Any]] = []
    try:
        engine = make_engine(url)
        queries.balances(engine, SHARED)  # connect before the start line
        barrier.wait(BARRIER_TIMEOUT_S)
        first_transfers = 0
        for i in range(TRANSFERS_PER_WORKER):
            quantity = transfer_quantity(worker, i)
            outcomes.append(
                _attempt(
                    "transfer",
                    quantity,
                    lambda q=quantity: actions.transfer(
                        engine,
                        actor=KOR_REGISTRY,
                        from_account=SHARED,
                        to_account=worker_account(worker),
                        selection=actions.Selection(APPROACH, 2025, q),
                        action_date=ACTION_DAY,
                    ),
                )
            )
            if i % 5 in (1, 3):
                quantity = first_transfer_quantity(worker, first_transfers)
                first_transfers += 1
                outcomes.append(
                    _attempt(
                        "first_transfer",
                        quantity,
                        lambda q=quantity: actions.first_transfer(
                            engine,
                            actor=KHM_REGISTRY,
                            from_account="KHM01-PENDING",
                            to_account=worker_account(worker),
                            selection=actions.Selection(APPROACH, 2025, q),
                            authorization_id=LOA,
                            action_date=ACTION_DAY,
                        ),
                    )
                )
        engine.dispose()
        Path(out).write_text(json.dumps({"outcomes": outcomes}))
    except BaseException:
        Path(out).write_text(json.dumps({"error": traceback.format_exc(), "outcomes": outcomes}))
        raise


def _attempt(kind: str, quantity: int, call: Any) -> dict[str, Any]:
    try:
        receipt = call()
    except ActionRefused as refused:
        return {"kind": kind, "quantity": quantity, "ok": False, "code": refused.code.value}
    return {
        "kind": kind,
        "quantity": quantity,
        "ok": True,
        "seq": receipt.seq,
        "moved": receipt.details["quantity_t"],
        "blocks": [[b["first"], b["last"]] for b in receipt.details["blocks"]],
    }


def prepare(url: str, key_dir: Path) -> tuple[int, int]:
    """The reference setup, 5,000 t held by Korea, 450,000 t pending in Cambodia.

    Returns the last serials of issuance 1 (held) and issuance 2 (pending)."""
    engine = make_engine(url)
    reference_case.load_setup(engine, key_dir)
    for worker in range(WORKERS):
        setup.open_account(
            engine,
            actor=KOR_REGISTRY,
            account=Account(
                worker_account(worker), "KOR01", AccountKind.HOLDING, "KOR", f"Racer {worker}"
            ),
        )
    held = actions.issue_units(
        engine,
        actor=KHM_REGISTRY,
        approach_id=APPROACH,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=HELD_T,
        action_date=date(2026, 3, 2),
        authorization_id=LOA,
    )
    actions.first_transfer(
        engine,
        actor=KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account=SHARED,
        selection=actions.Selection(APPROACH, 2025, HELD_T),
        authorization_id=LOA,
        action_date=date(2026, 3, 3),
    )
    pending = actions.issue_units(
        engine,
        actor=KHM_REGISTRY,
        approach_id=APPROACH,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=PENDING_T,
        action_date=date(2026, 3, 4),
        authorization_id=LOA,
    )
    engine.dispose()
    assert held.details["last_serial"] + 1 == pending.details["first_serial"]
    return held.details["last_serial"], pending.details["last_serial"]


def run_race(url: str, tmp_path: Path) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    outputs = [tmp_path / f"racer-{w}.json" for w in range(WORKERS)]
    processes = [
        context.Process(target=race_worker, args=(url, w, barrier, str(outputs[w])))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_TIMEOUT_S)
    alive = [p.pid for p in processes if p.is_alive()]
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert not alive, f"racers {alive} did not finish"
    results = [json.loads(path.read_text()) if path.exists() else {} for path in outputs]
    for worker, (process, result) in enumerate(zip(processes, results, strict=True)):
        assert process.exitcode == 0 and "error" not in result, (
            f"racer {worker} failed (exit {process.exitcode}): {result.get('error')}"
        )
    return [dict(o, worker=w) for w, result in enumerate(results) for o in result["outcomes"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_processes_never_spend_a_unit_twice(
    backend: str, tmp_path: Path, key_dir: Path
) -> None:
    url, schema = create_database(backend, tmp_path)
    try:
        last_held_serial, last_pending_serial = prepare(url, key_dir)
        outcomes = run_race(url, tmp_path)
        engine = make_engine(url)
        try:
            check_outcomes(engine, outcomes, last_held_serial, last_pending_serial)
        finally:
            engine.dispose()
    finally:
        drop_schema(schema)


def check_outcomes(
    engine: Any, outcomes: list[dict[str, Any]], last_held_serial: int, last_pending_serial: int
) -> None:
    transfers = [o for o in outcomes if o["kind"] == "transfer"]
    firsts = [o for o in outcomes if o["kind"] == "first_transfer"]
    assert len(transfers) == WORKERS * TRANSFERS_PER_WORKER
    assert len(firsts) == WORKERS * FIRST_TRANSFERS_PER_WORKER
    assert sum(o["quantity"] for o in transfers) > HELD_T
    assert sum(o["quantity"] for o in firsts) > CAP_T - HELD_T

    # Every refusal names the rule the race was bound to hit, and nothing else.
    codes = Counter((o["kind"], o["code"]) for o in outcomes if not o["ok"])
    assert set(codes) == {
        ("transfer", RejectionCode.INSUFFICIENT_UNITS.value),
        ("first_transfer", RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED.value),
    }, codes

    ok_transfers = [o for o in transfers if o["ok"]]
    ok_firsts = [o for o in firsts if o["ok"]]
    moved = sum(o["quantity"] for o in ok_transfers)
    first_moved = sum(o["quantity"] for o in ok_firsts)
    assert all(o["moved"] == o["quantity"] for o in ok_transfers + ok_firsts)

    # Nothing spent twice: receipts' serial ranges are disjoint and add up to what moved.
    ranges = sorted(tuple(r) for o in ok_transfers + ok_firsts for r in o["blocks"])
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first > last, f"serial {first} was spent twice"
    assert sum(last - first + 1 for first, last in ranges) == moved + first_moved
    assert all(last <= last_held_serial for o in ok_transfers for _, last in o["blocks"]), (
        "a transfer took serials that were never in the shared account"
    )
    assert all(
        last_held_serial < first and last <= last_pending_serial
        for o in ok_firsts
        for first, last in o["blocks"]
    ), "a first transfer took serials that were not pending"

    # Totals reconcile with the projections.
    balances = queries.balances(engine)
    assert balances.get((SHARED, APPROACH, 2025), 0) == HELD_T - moved
    assert balances.get(("KHM01-PENDING", APPROACH, 2025), 0) == PENDING_T - first_moved
    for worker in range(WORKERS):
        won = sum(o["quantity"] for o in ok_transfers + ok_firsts if o["worker"] == worker)
        assert balances.get((worker_account(worker), APPROACH, 2025), 0) == won

    # Refusals were genuine: balances and headroom only shrink, so at the end
    # each refused request must still be more than what is left.
    left = HELD_T - moved
    assert left >= 0
    assert left < min(o["quantity"] for o in transfers if not o["ok"])
    with engine.connect() as connection:
        usage = connection.execute(
            select(t.authorization_usage.c.quantity_t).where(
                t.authorization_usage.c.authorization_id == LOA,
                t.authorization_usage.c.purpose == Purpose.NDC.value,
            )
        ).scalar_one()
        commands = dict(
            connection.execute(
                select(t.journal.c.command, func.count()).group_by(t.journal.c.command)
            ).all()
        )
    assert usage == HELD_T + first_moved <= CAP_T
    assert CAP_T - usage < min(o["quantity"] for o in firsts if not o["ok"])

    # One journal event per successful action, each at its own position.
    assert commands["UnitsTransferred"] == len(ok_transfers)
    assert commands["UnitsFirstTransferred"] == 1 + len(ok_firsts)
    seqs = [o["seq"] for o in ok_transfers + ok_firsts]
    assert len(set(seqs)) == len(seqs)

    report = verify.verify(engine)
    assert report.ok, report.problem
