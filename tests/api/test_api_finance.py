"""Finance routes: agreements, recovery status, charts and the portfolio."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from api_support import (
    assert_problem,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI

from article6.services.finance_reference import load_reference_agreement

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]

DATA = Path(__file__).resolve().parents[2] / "data"


def test_agreement_status_charts_and_portfolio(reference_app: FastAPI) -> None:
    agreement = load_reference_agreement(reference_app.state.engine)
    financier = signed_in(reference_app, "isp-manager")
    listed = financier.get("/api/v1/finance/agreements").json()
    assert listed["items"] == [agreement.agreement_id]
    path = f"/api/v1/finance/agreements/{agreement.agreement_id}"
    status = financier.get(f"{path}/status", params={"as_of": "2026-06-30"})
    assert status.status_code == 200, status.text
    report = status.json()
    assert report["agreement"]["agreement_id"] == agreement.agreement_id
    assert report["as_of"] == "2026-06-30" and report["delivered_t"] >= 0
    for chart in ("recovery.png", "delivery.png"):
        image = financier.get(f"{path}/{chart}", params={"as_of": "2026-06-30"})
        assert image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
    book = financier.get("/api/v1/finance/portfolio", params={"as_of": "2026-06-30"})
    assert book.status_code == 200, book.text
    assert book.json()["as_of"] == "2026-06-30" and book.json()["currency"] == "KRW"
    missing = financier.get("/api/v1/finance/agreements/NOPE/status")
    # The finance service names an unknown agreement with invalid_identifier (400).
    assert "does not exist" in assert_problem(missing, 400, "invalid_identifier")["detail"]


def _reference_agreement() -> dict[str, Any]:
    data = tomllib.loads((DATA / "finance" / "reference_agreement.toml").read_text("utf-8"))
    agreement: dict[str, Any] = data["agreement"]
    return agreement


def test_financier_records_agreement_amendment_disbursement_and_rate(
    reference_app: FastAPI,
) -> None:
    financier = signed_in(reference_app, "isp-manager")
    agreement = _reference_agreement()
    created = financier.post("/api/v1/finance/agreements", json=agreement)
    assert created.status_code == 201, created.text
    path = f"/api/v1/finance/agreements/{agreement['agreement_id']}"
    amended = {**agreement, "version": 2, "effective_from": "2026-01-01"}
    amended["amendment_reason"] = "second tranche brought forward"
    response = financier.post(f"{path}/amendments", json=amended)
    assert response.status_code == 200, response.text
    mismatch = financier.post(f"{path}/amendments", json={**amended, "agreement_id": "OTHER"})
    assert_problem(mismatch, 422)
    disbursement = {
        "disbursement_id": "KOR-ISP-2025-001-D1",
        "disbursement_date": "2025-08-01",
        "amount": {"amount": "2972800000", "currency": "KRW"},
    }
    paid = financier.post(f"{path}/disbursements", json=disbursement)
    assert paid.status_code == 200, paid.text
    rate = {"base": "USD", "quote": "KRW", "rate_date": "2025-08-01", "rate": "1385.20"}
    assert financier.post("/api/v1/finance/exchange-rates", json=rate).status_code == 201
    report = financier.get(f"{path}/status", params={"as_of": "2026-06-30"}).json()
    assert report["versions"] == 2
    assert report["disbursed"] == {"amount": "2972800000", "currency": "KRW"}


def test_registry_records_deliveries_and_others_are_refused(reference_app: FastAPI) -> None:
    agreement = _reference_agreement()
    financier = signed_in(reference_app, "isp-manager")
    assert financier.post("/api/v1/finance/agreements", json=agreement).status_code == 201
    path = f"/api/v1/finance/agreements/{agreement['agreement_id']}"
    for user in ("verywords-dev", "observer", "khm-chair"):
        refused = signed_in(reference_app, user).post("/api/v1/finance/agreements", json=agreement)
        assert_problem(refused, 403, "permission_denied")
    recovered = signed_in(reference_app, "khm-registry").post(f"{path}/recovery")
    assert recovered.status_code == 200, recovered.text
    report = financier.get(f"{path}/status", params={"as_of": "2026-06-30"}).json()
    assert report["delivered_t"] > 0
    delivery = {
        "vintage": 2025,
        "quantity_t": 10,
        "delivery_date": "2026-05-01",
        "reference": "manual",
    }
    refused = signed_in(reference_app, "verywords-dev").post(f"{path}/deliveries", json=delivery)
    assert_problem(refused, 403, "permission_denied")
