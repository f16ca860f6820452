"""The reference case as the web tests see it: the workflow, both Parties' NDCs
and Korea's inventory, and the investment support programme's agreement."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from article6.services import accounting, reference_workflow
from article6.services.finance_reference import load_reference_agreement
from article6.services.reference_workflow import DEMO_PASSWORD, Cast

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def load_accounting_and_finance(engine: Engine, cast: Cast) -> None:
    for party, actor in (("KHM", cast["khm-coordinator"]), ("KOR", cast["kor-motie"])):
        ndc = accounting.load_ndc_file(DATA_DIR / "ndc" / f"{party}.toml")
        accounting.record_ndc(engine, actor=actor, ndc=ndc)
    accounting.import_inventory_file(
        engine, actor=cast["kor-motie"], party="KOR", path=DATA_DIR / "inventory" / "KOR.csv"
    )
    load_reference_agreement(engine, record_first_delivery=False)


def load_full_reference(engine: Engine, key_dir: Path) -> Cast:
    cast = reference_workflow.load_reference_workflow(engine, key_dir)
    load_accounting_and_finance(engine, cast)
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
    )
    assert answer.status_code == 200 and "/dashboard" in str(answer.url), answer.text[:500]


def page_text(html: str) -> str:
    """The visible words of a page, spaces collapsed, for assertions."""
    without_tags = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_tags)).replace("&#39;", "'")
