"""Crash: a process doing a batch of transfers is killed with SIGKILL mid-batch.

A child Python process runs 60 transfers, each with its own idempotency key and
its own quantity, and reports each commit on a progress file. The test kills it
with SIGKILL once it has reported some commits, so it usually dies inside the
next transaction. Afterwards the journal verifies and every transfer is whole
or absent: its idempotency record, its journal event and its units all exist
together or not at all. A second run is killed later, and a third finishes the
batch: applied transfers are answered from their idempotency record, the rest
are applied once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from article6.domain.model import Account, AccountKind
from article6.services import actions, queries, reference_case, setup, verify
from article6.store import tables as t
from article6.store.database import make_engine
from database_support import BACKENDS, create_database, drop_schema

BATCH = 60
HELD_T = 20_000
APPROACH = reference_case.APPROACH_ID
SOURCE, TARGET = "KOR01-HOLDING", "KOR01-CRASH"
WAIT_S = 120


CHILD = """
import sys
from datetime import date

from article6.services import actions, reference_case
from article6.store.database import make_engine

url, progress, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
with open(progress, "a", encoding="utf-8") as out:
    for i in range(batch):
        receipt = actions.transfer(
            engine,
            actor=reference_case.KOR_REGISTRY,
            from_account="KOR01-HOLDING",
            to_account="KOR01-CRASH",
            selection=actions.Selection("CA0001", 2025, 100 + i),
            action_date=date(2026, 6, 1),
            idempotency_key=f"crash-{i}",
        )
        out.write(f"{i} {int(receipt.replayed)}\\n")
        out.flush()
"""


def quantity(i: int) -> int:
    return 100 + i


def prepare(url: str, key_dir: Path) -> None:
    engine = make_engine(url)
    reference_case.load_setup(engine, key_dir)
    setup.open_account(
        engine,
        actor=reference_case.KOR_REGISTRY,
        account=Account(TARGET, "KOR01", AccountKind.HOLDING, "KOR", "Crash target"),
    )
    actions.issue_units(
        engine,
        actor=reference_case.KHM_REGISTRY,
        approach_id=APPROACH,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=HELD_T,
        action_date=date(2026, 3, 2),
        authorization_id=reference_case.AUTHORIZATION_ID,
    )
    actions.first_transfer(
        engine,
        actor=reference_case.KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account=SOURCE,
        selection=actions.Selection(APPROACH, 2025, HELD_T),
        authorization_id=reference_case.AUTHORIZATION_ID,
        action_date=date(2026, 3, 3),
    )
    engine.dispose()


def progress_lines(path: Path) -> list[tuple[int, bool]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(int(i), flag == "1") for i, flag in (line.split() for line in lines)]


def run_child(
    script: Path, url: str, progress: Path, kill_after: int | None
) -> list[tuple[int, bool]]:
    """Run the batch; SIGKILL it once `kill_after` lines are reported. Returns its reports."""
    progress.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, str(script), url, str(progress), str(BATCH)],
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is None:
        _, errors = child.communicate(timeout=WAIT_S)
        assert child.returncode == 0, errors
        return progress_lines(progress)
    deadline = time.monotonic() + WAIT_S
    while len(progress_lines(progress)) < kill_after:
        if child.poll() is not None:
            pytest.fail(f"the batch stopped before it was killed: {child.stderr.read()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the batch did not report {kill_after} commits")
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=WAIT_S)
    assert child.returncode == -signal.SIGKILL
    return progress_lines(progress)


def wait_for_dead_sessions(engine: Engine, application_name: str) -> None:
    """A killed client's PostgreSQL session ends (commit or rollback) a moment later."""
    deadline = time.monotonic() + WAIT_S
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
    with engine.connect() as connection:
        while connection.execute(query, {"name": application_name}).scalar_one():
            assert time.monotonic() < deadline, "the killed batch's session never ended"
            time.sleep(0.01)
            connection.rollback()


def applied(engine: Engine) -> list[int]:
    """Indexes of the applied transfers, after checking each is whole."""
    with engine.connect() as connection:
        keys = {
            row.key: row.result
            for row in connection.execute(
                select(t.idempotency.c.key, t.idempotency.c.result).where(
                    t.idempotency.c.key.like("crash-%")
                )
            )
        }
        events = connection.execute(
            select(t.journal.c.seq, t.journal.c.body)
            .where(t.journal.c.command == "UnitsTransferred")
            .order_by(t.journal.c.seq)
        ).all()
        block_rows = connection.execute(
            select(t.blocks.c.updated_seq, func.sum(t.blocks.c.last - t.blocks.c.first + 1))
            .where(t.blocks.c.account_id == TARGET)
            .group_by(t.blocks.c.updated_seq)
        ).all()
    by_quantity: dict[int, int] = {}
    for event in events:
        body = json.loads(event.body)
        moved = body["payload"]["request"]["selection"]["quantity_t"]
        assert moved not in by_quantity, f"transfer of {moved} t is in the journal twice"
        by_quantity[moved] = event.seq
    indexes = sorted(q - 100 for q in by_quantity)
    assert {f"crash-{i}" for i in indexes} == set(keys), (
        f"journal events and idempotency records disagree: events {indexes}, keys {sorted(keys)}"
    )
    for i in indexes:
        assert json.loads(keys[f"crash-{i}"])["seq"] == by_quantity[quantity(i)]
    assert indexes == list(range(len(indexes))), f"applied transfers {indexes} are not a prefix"
    units_by_seq = {int(seq): int(units) for seq, units in block_rows}
    assert units_by_seq == {by_quantity[quantity(i)]: quantity(i) for i in indexes}
    moved = sum(quantity(i) for i in indexes)
    balances = queries.balances(engine)
    assert balances.get((TARGET, APPROACH, 2025), 0) == moved
    assert balances.get((SOURCE, APPROACH, 2025), 0) == HELD_T - moved
    report = verify.verify(engine)
    assert report.ok, report.problem
    return indexes


@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_batch_leaves_every_transfer_whole_or_absent(
    backend: str, tmp_path: Path, key_dir: Path
) -> None:
    url, schema = create_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        prepare(url, key_dir)
        script = tmp_path / "batch.py"
        script.write_text(CHILD, encoding="utf-8")
        child_url, session = url, f"a6crash_{schema}"
        if schema is not None:
            child_url = f"{url}&application_name={session}"
        progress = tmp_path / "progress.txt"

        reported = run_child(script, child_url, progress, kill_after=12)
        if schema is not None:
            wait_for_dead_sessions(engine, session)
        done = applied(engine)
        assert [i for i, _ in reported] == list(range(len(reported)))
        assert not any(replayed for _, replayed in reported)
        # Every reported commit survived; at most the one in flight committed unreported.
        assert len(reported) <= len(done) <= len(reported) + 1 < BATCH

        reported = run_child(script, child_url, progress, kill_after=len(done) + 20)
        if schema is not None:
            wait_for_dead_sessions(engine, session)
        earlier, done = done, applied(engine)
        assert reported == [(i, i in earlier) for i, _ in reported]
        assert len(reported) <= len(done) <= len(reported) + 1 < BATCH

        reported = run_child(script, child_url, progress, kill_after=None)
        earlier, done = done, applied(engine)
        assert done == list(range(BATCH))
        assert reported == [(i, i in earlier) for i in range(BATCH)]
    finally:
        engine.dispose()
        drop_schema(schema)
