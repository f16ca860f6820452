"""Fresh, migrated test databases on SQLite and, when configured, PostgreSQL.

Each PostgreSQL database is a schema of its own (selected by the search path in
the URL), dropped afterwards, so tests never see each other's rows. Imported by
the fixtures in conftest.py and by tests that spawn processes of their own.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from article6.store.database import make_engine
from article6.store.migrate import upgrade

POSTGRES_URL = os.environ.get("ARTICLE6_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def postgres_schema_url(schema: str) -> str:
    assert POSTGRES_URL is not None
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def create_database(backend: str, tmp_path: Path) -> tuple[str, str | None]:
    """A fresh, migrated database URL, and the PostgreSQL schema to drop afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
        schema = None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(str(POSTGRES_URL))
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = postgres_schema_url(schema)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, schema


def drop_schema(schema: str | None) -> None:
    if schema is None:
        return
    admin = create_engine(str(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()
