"""Accounting and reporting routes: NDC, inventory, balance, finalisation and correction,
frozen holdings, the AEF with its checks and files, regular information."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from api_support import (
    assert_problem,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]

DATA = Path(__file__).resolve().parents[2] / "data"


def test_ndc_inventory_and_balance(reference_app: FastAPI) -> None:
    korea = signed_in(reference_app, "kor-motie")
    ndc = (DATA / "ndc" / "KOR.toml").read_text(encoding="utf-8")
    recorded = korea.post("/api/v1/accounting/KOR/ndc", json={"toml": ndc})
    assert recorded.status_code == 201, recorded.text
    wrong_party = korea.post("/api/v1/accounting/KHM/ndc", json={"toml": ndc})
    assert assert_problem(wrong_party, 422, "invalid_ndc")["field"] == "party"
    broken = korea.post("/api/v1/accounting/KOR/ndc", json={"toml": "party = 'KOR'\n"})
    assert_problem(broken, 422, "invalid_ndc")

    inventory = (DATA / "inventory" / "KOR.csv").read_bytes()
    imported = korea.put("/api/v1/accounting/KOR/inventory", content=inventory)
    assert imported.status_code == 200, imported.text
    rejected = korea.put("/api/v1/accounting/KOR/inventory", content=b"colour,t\nred,1\n")
    body = assert_problem(rejected, 422, "inventory_rejected")
    assert any("year" in error["message"] for error in body["errors"])

    statement = korea.get("/api/v1/accounting/KOR/balance", params={"year": 2030}).json()
    years = {row["year"]: row for row in statement["figures"]["years"]}
    assert years[2030]["uses_t"] == 10_000


def test_forbidden_accounting_changes_are_403(reference_app: FastAPI) -> None:
    ndc = (DATA / "ndc" / "KOR.toml").read_text(encoding="utf-8")
    for user in ("khm-registry", "verywords-dev", "verifier", "observer", "khm-coordinator"):
        client = signed_in(reference_app, user)
        refused = client.post("/api/v1/accounting/KOR/ndc", json={"toml": ndc})
        assert_problem(refused, 403, "permission_denied")
        frozen = client.post("/api/v1/reports/KOR/2026/frozen-holdings", json={})
        assert_problem(frozen, 403, "permission_denied")


def test_freeze_generate_aef_download_and_check(reference_app: FastAPI) -> None:
    registry = signed_in(reference_app, "kor-registry")
    frozen = registry.post("/api/v1/reports/KOR/2026/frozen-holdings", json={"on": "2027-01-15"})
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["details"] == {
        "party": "KOR",
        "year": 2026,
        "blocks": 1,
        "quantity_t": 51_200,
    }

    korea = signed_in(reference_app, "kor-motie")
    summary = korea.post("/api/v1/reports/KOR/2026/aef", json={"submitted_on": "2027-04-01"})
    assert summary.status_code == 200, summary.text
    figures = summary.json()
    assert figures["party"] == "KOR" and figures["rows"]
    again = korea.post("/api/v1/reports/KOR/2026/aef", json={"submitted_on": "2027-04-01"})
    assert again.json()["version"] == figures["version"]
    assert again.json()["new_version"] is False

    workbook = korea.post("/api/v1/reports/KOR/2026/aef/file", json={"submitted_on": "2027-04-01"})
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")
    as_json = korea.post(
        "/api/v1/reports/KOR/2026/aef/file",
        params={"format": "json"},
        json={"submitted_on": "2027-04-01"},
    )
    assert json.loads(as_json.content)
    tables = korea.post(
        "/api/v1/reports/KOR/2026/aef/file",
        params={"format": "csv"},
        json={"submitted_on": "2027-04-01"},
    )
    names = zipfile.ZipFile(io.BytesIO(tables.content)).namelist()
    assert names and all(name.endswith(".csv") for name in names)

    checks = korea.get(
        "/api/v1/reports/KOR/2026/checks", params={"submitted_on": "2027-04-01"}
    ).json()
    assert checks["ok"] is (not checks["failures"])
    assert len(checks["failures"]) == figures["consistency_failures"]
    no_ndc = korea.get("/api/v1/reports/KOR/2026/regular-information")
    assert_problem(no_ndc, no_ndc.status_code)
    ndc = (DATA / "ndc" / "KOR.toml").read_text(encoding="utf-8")
    assert korea.post("/api/v1/accounting/KOR/ndc", json={"toml": ndc}).status_code == 201
    info = korea.get("/api/v1/reports/KOR/2026/regular-information").json()
    assert info["party"] == "KOR" and info["reported_year"] == 2026
    assert [row["Year"] for row in info["tables"]["Cumulative"]][-1] == 2026
    chart = korea.get("/api/v1/reports/KOR/2026/regular-information/chart.png")
    assert chart.headers["content-type"] == "image/png" and chart.content.startswith(b"\x89PNG")


def test_finalise_and_correct_need_the_ndc_and_the_inventory(reference_app: FastAPI) -> None:
    korea = signed_in(reference_app, "kor-motie")
    finalised = korea.post("/api/v1/accounting/KOR/periods/2030/finalisation")
    assert "no NDC period" in assert_problem(finalised, 409, "invalid_transition")["detail"]
    ndc = (DATA / "ndc" / "KOR.toml").read_text(encoding="utf-8")
    assert korea.post("/api/v1/accounting/KOR/ndc", json={"toml": ndc}).status_code == 201
    corrected = korea.post(
        "/api/v1/accounting/KOR/periods/2030/corrections", json={"reason": "late inventory"}
    )
    assert "import it first" in assert_problem(corrected, 409, "invalid_transition")["detail"]
