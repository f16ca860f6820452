"""Shared pieces of the API tests: the reference case behind a TestClient, signed-in users."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from article6.services.reference_workflow import DEMO_PASSWORD, load_reference_workflow
from article6.store import tables as t
from database_support import (
    BACKENDS,
    app_on_case_copy,
    drop_database,
    postgres_case_template,
    sqlite_case_template,
)

PROBLEM = "application/problem+json"


def _load_reference(engine: Engine, keys: Path) -> None:
    load_reference_workflow(engine, keys)


@pytest.fixture(scope="session")
def reference_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference case loaded once into a SQLite file; tests copy it."""
    return sqlite_case_template(tmp_path_factory.mktemp("reference"), _load_reference)


def copy_reference(template: Path, target: Path) -> tuple[str, Path]:
    shutil.copy(template / "registry.db", target / "registry.db")
    shutil.copytree(template / "keys", target / "keys")
    return f"sqlite:///{target / 'registry.db'}", target / "keys"


@pytest.fixture(scope="session")
def reference_postgres_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """The reference case in a PostgreSQL template database (cloned per test) and its keys."""
    name, keys = postgres_case_template(tmp_path_factory.mktemp("reference-pg"), _load_reference)
    yield name, keys
    drop_database(name)


@pytest.fixture(params=BACKENDS)
def reference_app(
    request: pytest.FixtureRequest, reference_template: Path, tmp_path: Path
) -> Iterator[FastAPI]:
    """The API over a private copy of the reference case, on each backend."""
    with app_on_case_copy(
        request, reference_template, "reference_postgres_template", tmp_path
    ) as app:
        yield app


def signed_in(app: FastAPI, user_id: str, password: str = DEMO_PASSWORD) -> TestClient:
    client = TestClient(app)
    response = client.post("/api/v1/session", json={"user_id": user_id, "password": password})
    assert response.status_code == 200, response.text
    return client


def journal_length(app: FastAPI) -> int:
    with app.state.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.journal)).scalar_one())


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
