"""Fresh, migrated test databases on SQLite and, when configured, PostgreSQL.

Each PostgreSQL database is a schema of its own (selected by the search path in
the URL), dropped afterwards, so tests never see each other's rows; tests that
start from a loaded case clone a template database instead. Imported by
the fixtures in conftest.py and by tests that spawn processes of their own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, make_url, text

from article6.api.app import create_app
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


def postgres_database_url(name: str) -> str:
    """The test server's URL pointing at database `name` instead of the test database."""
    assert POSTGRES_URL is not None
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _server_admin() -> Engine:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    return create_engine(str(POSTGRES_URL), isolation_level="AUTOCOMMIT")


def create_template_database(load: Callable[[Engine], object]) -> str:
    """A PostgreSQL database migrated and filled by `load`, to clone per test.

    Loading a full case once and cloning it (a file copy on the server) keeps
    per-test isolation without paying for the load in every test.
    """
    name = f"a6tpl_{uuid.uuid4().hex[:12]}"
    admin = _server_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(postgres_database_url(name))
    upgrade(engine)
    load(engine)
    engine.dispose()
    return name


def clone_database(template: str) -> tuple[str, str]:
    """A fresh copy of a template database: its URL and its name (to drop afterwards)."""
    name = f"a6_{uuid.uuid4().hex[:12]}"
    admin = _server_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return postgres_database_url(name), name


def drop_database(name: str) -> None:
    admin = _server_admin()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


LoadCase = Callable[[Engine, Path], object]
"""Loads a case into a migrated database, its signing keys into the given folder."""


def sqlite_case_template(folder: Path, load: LoadCase) -> Path:
    """A case loaded once into a SQLite file in `folder`, for tests to copy."""
    engine = make_engine(f"sqlite:///{folder / 'registry.db'}")
    upgrade(engine)
    load(engine, folder / "keys")
    engine.dispose()
    return folder


def postgres_case_template(folder: Path, load: LoadCase) -> tuple[str, Path]:
    """The same case in a PostgreSQL template database, and its keys in `folder`."""
    return create_template_database(lambda engine: load(engine, folder / "keys")), folder / "keys"


@contextmanager
def case_copy(
    backend: str,
    sqlite_template: Path,
    postgres_template: Callable[[], tuple[str, Path]],
    target: Path,
) -> Iterator[tuple[str, Path]]:
    """A private copy of a loaded case for one test: its database URL and key folder."""
    keys = target / "keys"
    if backend == "sqlite":
        shutil.copy(sqlite_template / "registry.db", target / "registry.db")
        shutil.copytree(sqlite_template / "keys", keys)
        yield f"sqlite:///{target / 'registry.db'}", keys
        return
    template, template_keys = postgres_template()
    shutil.copytree(template_keys, keys)
    url, database = clone_database(template)
    try:
        yield url, keys
    finally:
        drop_database(database)


@contextmanager
def app_on_case_copy(
    request: pytest.FixtureRequest, sqlite_template: Path, postgres_fixture: str, target: Path
) -> Iterator[FastAPI]:
    """The application over a private copy of a loaded case, on the backend the
    fixture's parameter names; the PostgreSQL template fixture is asked for only
    when that backend runs."""

    def postgres() -> tuple[str, Path]:
        return request.getfixturevalue(postgres_fixture)  # type: ignore[no-any-return]

    with case_copy(request.param, sqlite_template, postgres, target) as (url, keys):
        app = create_app(url, keys)
        try:
            yield app
        finally:
            app.state.engine.dispose()
