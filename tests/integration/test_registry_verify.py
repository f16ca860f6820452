"""Tamper evidence: verify names the first broken event or block; checkpoints
signed by the registries detect rewritten history; the CLI exits accordingly."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text, update
from typer.testing import CliRunner

from article6.cli.main import app
from article6.services.reference_case import load_reference_flows, load_setup
from article6.services.verify import make_checkpoint, verify
from article6.store import tables as t
from article6.store.database import read_connection, stream_rows


@pytest.fixture
def loaded(engine: Engine, key_dir: Path) -> Engine:
    load_setup(engine, key_dir)
    load_reference_flows(engine)
    assert verify(engine).ok
    return engine


def tamper(engine: Engine, statement: object) -> None:
    with engine.begin() as connection:
        connection.execute(statement)  # type: ignore[call-overload]


def test_changed_block_row_is_named(loaded: Engine) -> None:
    tamper(
        loaded, update(t.blocks).where(t.blocks.c.block_id == 4).values(account_id="KHM01-HOLDING")
    )
    report = verify(loaded)
    assert not report.ok
    assert (
        report.problem is not None
        and "block 4" in report.problem
        and "account_id" in report.problem
    )


def test_changed_serials_are_named(loaded: Engine) -> None:
    tamper(loaded, update(t.blocks).where(t.blocks.c.block_id == 2).values(last=28_001))
    report = verify(loaded)
    assert not report.ok and "block 2" in str(report.problem)


def test_changed_event_body_is_named(loaded: Engine) -> None:
    with loaded.connect() as connection:
        body = connection.execute(text("SELECT body FROM journal WHERE seq = 25")).scalar_one()
    forged = body.replace("40000", "45000")
    assert forged != body
    tamper(loaded, update(t.journal).where(t.journal.c.seq == 25).values(body=forged))
    report = verify(loaded)
    assert not report.ok
    assert report.problem is not None and report.problem.startswith("event 25")


def test_rehashed_forgery_breaks_the_next_link(loaded: Engine) -> None:
    """Recomputing a forged event's own hash does not help: the next event points at the old one."""
    from article6.domain.journal import chain_hash

    with loaded.connect() as connection:
        row = connection.execute(text("SELECT body, prev_hash FROM journal WHERE seq = 25")).one()
    forged = row.body.replace("40000", "45000")
    tamper(
        loaded,
        update(t.journal)
        .where(t.journal.c.seq == 25)
        .values(body=forged, hash=chain_hash(row.prev_hash, forged.encode())),
    )
    report = verify(loaded)
    assert not report.ok and report.problem is not None and "event 26" in report.problem


def test_deleted_event_is_named(loaded: Engine) -> None:
    tamper(loaded, t.journal.delete().where(t.journal.c.seq == 10))
    report = verify(loaded)
    assert not report.ok and "event 10 is missing" in str(report.problem)


def test_changed_balance_is_named(loaded: Engine) -> None:
    tamper(
        loaded,
        update(t.balances)
        .where(t.balances.c.account_id == "KOR01-HOLDING")
        .values(quantity_t=30_001),
    )
    report = verify(loaded)
    assert not report.ok and "KOR01-HOLDING" in str(report.problem)


def test_checkpoint_detects_rewritten_history(loaded: Engine, key_dir: Path) -> None:
    checkpoint = make_checkpoint(loaded, key_dir)
    assert verify(loaded, checkpoint).ok
    forged_signature = {**checkpoint, "holdings_digest": "0" * 64}
    assert "digest" in str(verify(loaded, forged_signature).problem)
    bad_signature = {**checkpoint, "signatures": {"KHM01": "00" * 64}}
    assert "signature of KHM01" in str(verify(loaded, bad_signature).problem)
    # Rewrite history consistently (every hash recomputed): the checkpoint still catches it.
    from article6.domain.journal import GENESIS_HASH, chain_hash

    with loaded.begin() as connection:
        rows = connection.execute(text("SELECT seq, body FROM journal ORDER BY seq")).all()
        previous = GENESIS_HASH
        for seq, body in rows:
            if seq == 2:
                assert "Republic of Korea" in body
                body = body.replace("Republic of Korea", "Korea")
            digest = chain_hash(previous, body.encode())
            connection.execute(
                update(t.journal)
                .where(t.journal.c.seq == seq)
                .values(body=body, prev_hash=previous, hash=digest)
            )
            previous = digest
        connection.execute(update(t.journal_head).values(hash=previous))
    assert verify(loaded).ok  # alone, a consistent rewrite looks valid ...
    report = verify(loaded, checkpoint)
    assert not report.ok and "rewritten" in str(report.problem)  # ... the checkpoint does not


def test_cli_demo_verify_checkpoint_and_holdings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTICLE6_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "CA0001-KHM01-KHM-6801-2025" in result.output
    result = runner.invoke(app, ["registry", "verify", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
    result = runner.invoke(app, ["registry", "checkpoint", "--out", "cp.json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["registry", "verify", "--checkpoint", "cp.json"])
    assert result.exit_code == 0, result.output
    holdings = json.loads(
        runner.invoke(app, ["registry", "holdings", "--registry", "KOR01", "--json"]).output
    )
    assert sorted(h["quantity_t"] for h in holdings) == [10_000, 51_200]
    refused = runner.invoke(
        app,
        [
            "registry",
            "use",
            "--from",
            "KOR01-HOLDING",
            "--approach",
            "CA0001",
            "--vintage",
            "2025",
            "--quantity",
            "51201",
            "--use-year",
            "2030",
            "--json",
            "--user",
            "kor-registry",
        ],
    )
    assert refused.exit_code == 2 and json.loads(refused.output)["code"] == "insufficient_units"
    db = tmp_path / "home" / "article6.db"
    engine_url = f"sqlite:///{db}"
    from article6.store.database import make_engine

    tamper(make_engine(engine_url), update(t.blocks).where(t.blocks.c.block_id == 2).values(last=1))
    result = runner.invoke(app, ["registry", "verify"])
    assert result.exit_code == 1


def test_changed_recorded_at_column_is_named(loaded: Engine) -> None:
    tamper(
        loaded,
        update(t.journal).where(t.journal.c.seq == 12).values(recorded_at="2020-01-01T00:00:00"),
    )
    report = verify(loaded)
    assert not report.ok
    assert report.problem is not None and report.problem.startswith("event 12: columns")


def test_block_column_with_an_impossible_value_is_named(loaded: Engine) -> None:
    tamper(loaded, update(t.blocks).where(t.blocks.c.block_id == 3).values(state="lost"))
    report = verify(loaded)
    assert not report.ok
    assert report.problem is not None and "block 3: state" in report.problem


def test_deleted_block_row_is_named(loaded: Engine) -> None:
    with loaded.connect() as connection:
        last = connection.execute(text("SELECT max(block_id) FROM blocks")).scalar_one()
    tamper(loaded, t.blocks.delete().where(t.blocks.c.block_id == last))
    report = verify(loaded)
    assert not report.ok
    assert f"block {last} is in the journal but not the database" in str(report.problem)


def test_verify_leaves_garbage_collection_as_it_found_it(loaded: Engine) -> None:
    assert gc.isenabled()
    assert verify(loaded).ok and gc.isenabled()
    tamper(loaded, t.journal.delete().where(t.journal.c.seq == 10))
    assert not verify(loaded).ok and gc.isenabled()
    gc.disable()
    try:
        verify(loaded)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_stream_rows_gives_every_row_in_order_whatever_the_batch(loaded: Engine) -> None:
    query = select(t.journal.c.seq, t.journal.c.hash).order_by(t.journal.c.seq)
    with loaded.connect() as connection:
        expected = [tuple(row) for row in connection.execute(query)]
        for batch in (1, 7, 5000):
            assert list(stream_rows(connection, query, batch)) == expected
        # Two streams open at once on one connection stay apart.
        pairs = zip(
            stream_rows(connection, query, 3), stream_rows(connection, query, 4), strict=True
        )
        assert all(a == b for a, b in pairs)
    assert len(expected) > 20


def test_a_check_reads_one_snapshot_while_others_write(loaded: Engine) -> None:
    count = select(func.count()).select_from(t.parties)
    with read_connection(loaded) as connection:
        before = connection.execute(count).scalar_one()
        with loaded.begin() as writer:  # committed while the check is still reading
            writer.execute(t.parties.insert().values(code="JPN", name="Japan"))
        assert connection.execute(count).scalar_one() == before
        assert verify(loaded).ok
    with loaded.connect() as connection:
        assert connection.execute(count).scalar_one() == before + 1
