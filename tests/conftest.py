"""Shared fixtures: a migrated database on SQLite and, when configured, PostgreSQL.

Every storage test takes the `engine` fixture and so runs once per backend.
Each PostgreSQL test gets a schema of its own, dropped afterwards, so tests
never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

os.environ.setdefault("ARTICLE6_FAST_PASSWORD_HASH", "1")  # many users are created in tests

from article6.store.database import make_engine
from database_support import BACKENDS, create_database, drop_schema


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
