"""Schema migrations (Alembic), shared by `article6 db upgrade`, the demo and the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from article6.store.database import run_transaction
from article6.store.ledger_store import ensure_head


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "article6.store:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to `revision` and make sure the journal head exists."""
    with engine.begin() as connection:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    run_transaction(engine, ensure_head)
