"""The Alembic migrations build exactly the schema the code declares, on each backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from typer.testing import CliRunner

from article6.cli.main import app
from article6.store import tables as t
from article6.store.migrate import upgrade


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, t.metadata) == []
    assert set(t.metadata.tables) <= set(inspect(engine).get_table_names())


def test_upgrade_twice_keeps_one_journal_head(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        heads = connection.execute(select(t.journal_head)).all()
    assert len(heads) == 1 and heads[0].seq == 0


def test_db_upgrade_command(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    result = CliRunner().invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["registry", "verify", "--database-url", url, "--json"])
    assert result.exit_code == 0 and '"events": 0' in result.output
