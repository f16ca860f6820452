"""The write side of a command on a real database: queued writes are sent before
any read and at close (one pipeline on PostgreSQL), a failing queued write fails
the command with nothing kept, and account reads are batched and remembered."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Account, AccountKind, Purpose
from article6.services import actions, queries, setup
from article6.services.reference_case import (
    APPROACH_ID,
    AUTHORIZATION_ID,
    KHM_REGISTRY,
    KOR_REGISTRY,
    load_setup,
)
from article6.services.reference_workflow import APPROACH_ID as WORKFLOW_APPROACH_ID
from article6.services.reference_workflow import load_reference_workflow
from article6.services.verify import verify
from article6.store import ledger_store
from article6.store import tables as t
from article6.store.database import run_transaction
from article6.store.ledger_store import LedgerTransaction


@pytest.fixture
def registry(engine: Engine, key_dir: Path) -> Engine:
    load_setup(engine, key_dir)
    return engine


def journal_length(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(t.journal)).scalar_one()


def test_queued_writes_are_read_back_inside_the_transaction(registry: Engine) -> None:
    with registry.connect() as connection, connection.begin():
        tx = LedgerTransaction(connection, "tester")
        before = tx.seq
        tx.append("PartyRegistered", None, {"party": {"code": "AAA", "name": "A"}})
        tx.append("PartyRegistered", None, {"party": {"code": "BBB", "name": "B"}})
        seen = tx.connection.execute(
            select(func.max(t.journal.c.seq)).select_from(t.journal)
        ).scalar_one()
        assert seen == before + 2
        connection.rollback()
    assert journal_length(registry) == before


def test_a_failing_queued_write_fails_the_command_and_keeps_nothing(registry: Engine) -> None:
    before = journal_length(registry)

    def work(connection: object) -> None:
        tx = LedgerTransaction(connection, "tester")  # type: ignore[arg-type]
        tx.append("PartyRegistered", None, {"party": {"code": "AAA", "name": "A"}})
        # The same event number twice: the second insert breaks the primary key.
        tx.write(
            insert(t.journal),
            {
                "seq": tx.seq,
                "command": "PartyRegistered",
                "registry_id": None,
                "actor": "tester",
                "recorded_at": tx.recorded_at,
                "body": "{}",
                "prev_hash": "0" * 64,
                "hash": "f" * 64,
            },
        )
        tx.close()

    with pytest.raises(IntegrityError):
        run_transaction(registry, work)
    assert journal_length(registry) == before
    assert verify(registry).ok


def test_accounts_are_read_together_and_a_missing_one_is_asked_again(registry: Engine) -> None:
    with registry.connect() as connection, connection.begin():
        tx = LedgerTransaction(connection, "tester")
        found = tx.accounts("KHM01-PENDING", "KOR01-HOLDING", "KOR01-NOPE")
        assert sorted(found) == ["KHM01-PENDING", "KOR01-HOLDING"]
        assert found["KOR01-HOLDING"].kind is AccountKind.HOLDING
        assert tx.account("KOR01-NOPE") is None
        tx.insert_account(Account("KOR01-NOPE", "KOR01", AccountKind.HOLDING, "KOR", "Late"))
        assert tx.account("KOR01-NOPE") is not None
        connection.rollback()


def test_refused_transfer_to_a_missing_account_names_it(registry: Engine) -> None:
    with pytest.raises(ActionRefused) as refused:
        actions.transfer(
            registry,
            actor=KOR_REGISTRY,
            from_account="KOR01-HOLDING",
            to_account="KOR01-MISSING",
            selection=actions.Selection(APPROACH_ID, 2025, 1),
            action_date=date(2026, 4, 1),
        )
    assert refused.value.code is RejectionCode.UNKNOWN_ACCOUNT
    assert "KOR01-MISSING" in str(refused.value)


def test_usage_upsert_adds_to_an_existing_row(registry: Engine) -> None:
    actions.issue_units(
        registry,
        actor=KHM_REGISTRY,
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=1_000,
        action_date=date(2026, 3, 2),
        authorization_id=AUTHORIZATION_ID,
    )
    setup.open_account(
        registry,
        actor=KOR_REGISTRY,
        account=Account("KOR01-SECOND", "KOR01", AccountKind.HOLDING, "KOR", "Second"),
    )
    for to_account, quantity in (("KOR01-HOLDING", 300), ("KOR01-SECOND", 200)):
        actions.first_transfer(
            registry,
            actor=KHM_REGISTRY,
            from_account="KHM01-PENDING",
            to_account=to_account,
            selection=actions.Selection(APPROACH_ID, 2025, quantity),
            authorization_id=AUTHORIZATION_ID,
            action_date=date(2026, 3, 3),
        )
    with registry.connect() as connection:
        rows = connection.execute(select(t.authorization_usage)).all()
    assert [(r.authorization_id, r.purpose, r.quantity_t) for r in rows] == [
        (AUTHORIZATION_ID, Purpose.NDC.value, 500)
    ]
    assert verify(registry).ok


def test_a_failing_read_raises_the_database_error_and_keeps_nothing(registry: Engine) -> None:
    # A vintage each database refuses to compare: PostgreSQL a text, SQLite an
    # integer wider than its 64 bits (it would compare a text without complaint).
    postgres = registry.dialect.name == "postgresql"
    vintage: object = "not a year" if postgres else 2**70
    before = journal_length(registry)

    def work(connection: object) -> None:
        tx = LedgerTransaction(connection, "tester")  # type: ignore[arg-type]
        tx.append("PartyRegistered", None, {"party": {"code": "AAA", "name": "A"}})
        tx.held_blocks("KOR01-HOLDING", APPROACH_ID, vintage)  # type: ignore[arg-type]

    with pytest.raises(DataError if postgres else OverflowError):
        run_transaction(registry, work)
    assert journal_length(registry) == before


def test_statements_built_on_the_fly_do_not_pile_up(registry: Engine) -> None:
    with registry.connect() as connection, connection.begin():
        tx = LedgerTransaction(connection, "tester")
        for i in range(ledger_store._COMPILED_MAX + 50):
            statement = update(t.parties).where(t.parties.c.code == "ZZZ").values(name=f"n{i}")
            tx.write(statement, {})
        tx.flush()
        assert len(ledger_store._COMPILED) <= ledger_store._COMPILED_MAX
        many = [f"KOR01-NONE{i}" for i in range(6)] + ["KOR01-HOLDING"]
        assert list(tx.accounts(*many)) == ["KOR01-HOLDING"]
        connection.rollback()


def test_held_blocks_are_found_through_the_index_that_matches_every_term(
    registry: Engine,
) -> None:
    # A transfer asks for the held blocks of one account, approach and vintage.
    # Through an index matching fewer terms the database reads every split block
    # the account ever had: a transfer from an account split 100,000 times then
    # took tens of milliseconds instead of a fraction of one.
    statement = ledger_store._held_statement(("approach_id", "vintage"), None)
    compiled = statement.compile(dialect=registry.dialect)
    parameters = {"account_id": "KOR01-HOLDING", "approach_id": APPROACH_ID, "vintage": 2025}
    with registry.connect() as connection, connection.begin():
        values = {**compiled.params, **parameters}
        if registry.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", values)
            plan = [row[0] for row in rows]
        else:
            ordered = tuple(values[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ordered)
            plan = [row[3] for row in rows]
        assert "ix_blocks_account_held" in " ".join(plan)


def test_held_blocks_enough_for_a_quantity_are_read_a_page_at_a_time(
    engine: Engine, key_dir: Path
) -> None:
    cast = load_reference_workflow(engine, key_dir)
    actor = cast["kor-registry"]
    account = Account("KOR01-PAGES", "KOR01", AccountKind.HOLDING, "KOR", "Pages")
    setup.open_account(engine, actor=actor, account=account)
    blocks = ledger_store.FIRST_PAGE_BLOCKS + 6  # more than the first page
    for _ in range(blocks):
        actions.transfer(
            engine,
            actor=actor,
            from_account="KOR01-HOLDING",
            to_account="KOR01-PAGES",
            selection=actions.Selection(WORKFLOW_APPROACH_ID, 2025, 1),
            action_date=date(2026, 6, 1),
        )
    with engine.connect() as connection, connection.begin():
        tx = LedgerTransaction(connection, "tester")
        every = tx.held_blocks("KOR01-PAGES", WORKFLOW_APPROACH_ID, 2025)
        assert len(every) == blocks
        for wanted in (1, ledger_store.FIRST_PAGE_BLOCKS, ledger_store.FIRST_PAGE_BLOCKS + 2):
            taken = tx.held_blocks("KOR01-PAGES", WORKFLOW_APPROACH_ID, 2025, enough_t=wanted)
            assert taken == every[:wanted], f"the first {wanted} blocks in selection order"
        assert tx.held_blocks("KOR01-PAGES", WORKFLOW_APPROACH_ID, 2025, enough_t=10**6) == every
        limited = tx.held_blocks(
            "KOR01-PAGES", WORKFLOW_APPROACH_ID, 2025, enough_t=10**6, limit=blocks - 1
        )
        assert limited == every[: blocks - 1]
        connection.rollback()
    actions.transfer(
        engine,
        actor=actor,
        from_account="KOR01-PAGES",
        to_account="KOR01-HOLDING",
        selection=actions.Selection(WORKFLOW_APPROACH_ID, 2025, blocks - 1),
        action_date=date(2026, 6, 2),
    )
    remaining = [r for r in queries.holdings(engine, "KOR01") if r.account_id == "KOR01-PAGES"]
    assert [r.block_id for r in remaining] == [every[-1].block_id], "the last in order stays"
    assert verify(engine).ok
