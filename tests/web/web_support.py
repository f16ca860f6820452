"""The reference case as the web tests see it: the workflow, both Parties' NDCs
and Korea's inventory, and the investment support programme's agreement."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from article6.services import accounting, reference_workflow
from article6.services.finance_reference import load_reference_agreement
from article6.services.reference_workflow import DEMO_PASSWORD, Cast
from database_support import (
    BACKENDS,
    app_on_case_copy,
    drop_database,
    postgres_case_template,
    sqlite_case_template,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# Korea's inventory: the 2018 base year of the data folder, then figures made up
# for these tests so that the balance has several years to draw.
TEST_INVENTORY_MT = {2021: 676.6, 2022: 654.5, 2023: 624.2, 2024: 611.0}


def load_accounting_and_finance(engine: Engine, cast: Cast, folder: Path) -> None:
    for party, actor in (("KHM", cast["khm-coordinator"]), ("KOR", cast["kor-motie"])):
        ndc = accounting.load_ndc_file(DATA_DIR / "ndc" / f"{party}.toml")
        accounting.record_ndc(engine, actor=actor, ndc=ndc)
    inventory = folder / "KOR_inventory.csv"
    lines = (DATA_DIR / "inventory" / "KOR.csv").read_text(encoding="utf-8").splitlines()
    lines += [f'{year},{value},"test figure"' for year, value in TEST_INVENTORY_MT.items()]
    inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")
    accounting.import_inventory_file(engine, actor=cast["kor-motie"], party="KOR", path=inventory)
    load_reference_agreement(engine)


def load_full_reference(engine: Engine, key_dir: Path) -> Cast:
    cast = reference_workflow.load_reference_workflow(engine, key_dir)
    load_accounting_and_finance(engine, cast, key_dir.parent)
    return cast


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, user_id: str, password: str = DEMO_PASSWORD) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.text),
            "user_id": user_id,
            "password": password,
            "next": "/dashboard",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"] == "/dashboard"


def page_text(html: str) -> str:
    """The visible words of a page, spaces collapsed, for assertions."""
    without_tags = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_tags)).replace("&#39;", "'")


def _load_full(engine: Engine, keys: Path) -> None:
    load_full_reference(engine, keys)


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full reference case loaded once into a SQLite file; each test copies it."""
    return sqlite_case_template(tmp_path_factory.mktemp("web-reference"), _load_full)


@pytest.fixture(scope="session")
def web_postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The same case in a PostgreSQL template database (cloned per test) and its keys."""
    name, keys = postgres_case_template(tmp_path_factory.mktemp("web-reference-pg"), _load_full)
    yield name, keys
    drop_database(name)


@pytest.fixture(params=BACKENDS)
def web_app(
    request: pytest.FixtureRequest, web_template: Path, tmp_path: Path
) -> Iterator[FastAPI]:
    """The application over a private copy of the loaded case, on each backend."""
    with app_on_case_copy(request, web_template, "web_postgres_template", tmp_path) as app:
        yield app


def client_for(app: FastAPI, user_id: str | None = None, locale: str | None = "en") -> TestClient:
    """A browser-like client (redirects followed), signed in as `user_id` if given,
    showing pages in `locale` (None: the user's own language)."""
    client = TestClient(app)
    if locale is not None:
        client.cookies.set("article6_locale", locale)
    if user_id is not None:
        sign_in(client, user_id)
    return client
