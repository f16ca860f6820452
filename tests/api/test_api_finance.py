"""Finance routes: agreements, recovery status, charts and the portfolio."""

from __future__ import annotations

from api_support import assert_problem, reference_app, reference_template, signed_in
from fastapi import FastAPI

from article6.services.finance_reference import load_reference_agreement

__all__ = ["reference_app", "reference_template"]


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
