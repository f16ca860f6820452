"""Shared fixtures: a migrated database on SQLite and, when configured, PostgreSQL.

Every storage test takes the `engine` fixture and so runs once per backend.
Each PostgreSQL test gets a schema of its own, dropped afterwards, so tests
never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from article6.store.database import make_engine
from article6.store.migrate import upgrade

os.environ.setdefault("ARTICLE6_FAST_PASSWORD_HASH", "1")  # many users are created in tests
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


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, schema = create_database(request.param, tmp_path)
    yield url
    drop_schema(schema)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"
