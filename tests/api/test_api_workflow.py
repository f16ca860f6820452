"""The reference case walked through the API, on SQLite and PostgreSQL: submission,
the working group's review, LoA, registration, monitoring, verification, issuance,
use, the documents, and the side roads (changes requested, amendment, rejection)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import assert_problem, signed_in
from fastapi import FastAPI

from article6.api.app import create_app
from article6.services.reference_workflow import load_people

PROJECT = "/api/v1/projects/VW-EMOTO-KHM"
PROPOSAL: dict[str, Any] = {
    "title": "Electric motorcycles and battery swapping in Phnom Penh and Siem Reap",
    "description": "E-motorcycles and battery-swap stations replacing gasoline motorcycles.",
    "methodology": "AMS-III.C",
    "methodology_version": "16.0",
    "host_party": "KHM",
    "acquiring_party": "KOR",
    "ex_ante_t": {str(year): 68_000 for year in range(2025, 2035)},
    "allocation": {"host_share": "1/10", "acquirer_cap_t": 400_000},
    "use_from": 2025,
    "use_to": 2035,
    "documents": ["Project design document.pdf"],
}
APPROVE = {"methodology": "approve", "total_reductions": "approve", "allocation_ratios": "approve"}
REVIEWERS = ("khm-reviewer", "kor-motie", "gggi-reviewer", "kotra-reviewer", "kea-reviewer")


@pytest.fixture
def people_app(database_url: str, key_dir: Path) -> Iterator[FastAPI]:
    app = create_app(database_url, key_dir)
    load_people(app.state.engine, key_dir)
    yield app
    app.state.engine.dispose()


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_reference_case_through_the_api(people_app: FastAPI) -> None:
    developer = signed_in(people_app, "verywords-dev")
    coordinator = signed_in(people_app, "khm-coordinator")
    chair = signed_in(people_app, "khm-chair")
    registry = signed_in(people_app, "khm-registry")

    created = developer.post(
        "/api/v1/projects",
        json={"project_id": "VW-EMOTO-KHM", "approach_id": "CA0001", "proposal": PROPOSAL},
    )
    _ok(created, 201)
    _ok(developer.post(f"{PROJECT}/submission", json={}))
    _ok(coordinator.post(f"{PROJECT}/review"))
    # One member asks for changes: the project goes back to the developer.
    changes = {**APPROVE, "allocation_ratios": "request_changes", "comment": "Explain the cap."}
    _ok(signed_in(people_app, "kea-reviewer").post(f"{PROJECT}/reviews", json=changes))
    assert _ok(developer.get(PROJECT))["state"] == "changes_requested"
    revised = {**PROPOSAL, "description": PROPOSAL["description"] + " Cap explained."}
    _ok(developer.post(f"{PROJECT}/submission", json={"proposal": revised, "reason": "cap"}))
    _ok(coordinator.post(f"{PROJECT}/review"))
    for reviewer in REVIEWERS:
        _ok(signed_in(people_app, reviewer).post(f"{PROJECT}/reviews", json=APPROVE))
    project = _ok(developer.get(PROJECT))
    assert project["state"] == "reviewed" and project["review_round"] == 2
    assert len([r for r in project["reviews"] if r["review_round"] == 2]) == 5

    loa = {
        "authorization_id": "KHM-LOA-2025-001",
        "authorization_date": "2025-07-18",
        "entity_id": "VERYWORDS",
        "entity_name": "VeryWords Co., Ltd.",
        "entity_country": "KOR",
        "entity_number": "KR-110111-0000000",
        "terms": "Use towards Korea's NDC only.",
    }
    _ok(chair.post(f"{PROJECT}/loa", json=loa))
    _ok(coordinator.post(f"{PROJECT}/registration", json={"registry_id": "KHM01"}))
    assert _ok(developer.get(PROJECT))["state"] == "registered"
    amendment = {"effective_from": "2025-09-01", "reason": "Raised cap", "quantity_cap_t": 450_000}
    _ok(chair.post(f"{PROJECT}/loa/amendments", json=amendment))
    versions = _ok(developer.get("/api/v1/authorizations"))["items"]
    assert [(v["version"], v["data"]["quantity_cap_t"]) for v in versions][-1] == (2, 450_000)

    period = {
        "period": 1,
        "start": "2025-01-01",
        "end": "2025-12-31",
        "reductions_t": {"2025": 68_000},
    }
    _ok(developer.post(f"{PROJECT}/periods", json=period), 201)
    _ok(coordinator.post(f"{PROJECT}/periods/1/verifier", json={"verifier": "IVB"}))
    verification = {"verified_t": {"2025": 68_000}, "opinion": "Reasonable assurance."}
    verifier = signed_in(people_app, "verifier")
    _ok(verifier.post(f"{PROJECT}/periods/1/verification", json=verification))
    _ok(developer.post(f"{PROJECT}/periods/1/issuance-request"))
    issuance = {
        "registry_id": "KHM01",
        "acquirer_account": "KOR01-HOLDING",
        "action_date": "2026-03-02",
    }
    issued = _ok(registry.post(f"{PROJECT}/periods/1/issuance", json=issuance))
    assert issued["replayed"] is False
    assert _ok(developer.get(f"{PROJECT}/periods/1"))["state"] == "issued"
    assert [p["period"] for p in _ok(developer.get(f"{PROJECT}/periods"))["items"]] == [1]

    korea = signed_in(people_app, "kor-motie")
    use = {
        "from_account": "KOR01-HOLDING",
        "selection": {"approach_id": "CA0001", "vintage": 2025, "quantity_t": 10_000},
        "use_year": 2030,
        "action_date": "2026-04-01",
    }
    _ok(korea.post("/api/v1/registry/uses", json=use, headers={"Idempotency-Key": "kor-use-1"}))
    holdings = _ok(korea.get("/api/v1/registry/holdings", params={"registry_id": "KOR01"}))
    used = [h for h in holdings["items"] if h["state"] == "used"]
    assert sum(h["quantity_t"] for h in used) == 10_000 and used[0]["use_year"] == 2030

    loa_pdf = korea.get("/api/v1/authorizations/KHM-LOA-2025-001/loa.pdf", params={"version": 1})
    assert loa_pdf.headers["content-type"] == "application/pdf"
    assert loa_pdf.content.startswith(b"%PDF")
    certificate = korea.get(f"{PROJECT}/periods/1/certificate.pdf")
    assert certificate.content.startswith(b"%PDF")
    assert_problem(korea.get(f"{PROJECT}/periods/2/certificate.pdf"), 409)
    assert _ok(registry.get("/api/v1/registry/verify"))["ok"] is True


def test_workflow_idempotency_replays_and_side_roads(people_app: FastAPI) -> None:
    developer = signed_in(people_app, "verywords-dev")
    body = {"project_id": "VW-SOLAR", "approach_id": "CA0001", "proposal": PROPOSAL}
    key = {"Idempotency-Key": "create-vw-solar"}
    first = _ok(developer.post("/api/v1/projects", json=body, headers=key), 201)
    again = _ok(developer.post("/api/v1/projects", json=body, headers=key), 201)
    assert again == {**first, "replayed": True}
    other = {**body, "project_id": "VW-OTHER"}
    assert_problem(developer.post("/api/v1/projects", json=other, headers=key), 409)
    # Without a key, the same command twice is refused by the workflow itself.
    assert_problem(developer.post("/api/v1/projects", json=body), 409, "already_exists")

    _ok(developer.post("/api/v1/projects/VW-SOLAR/submission", json={}))
    coordinator = signed_in(people_app, "khm-coordinator")
    _ok(coordinator.post("/api/v1/projects/VW-SOLAR/review"))
    _ok(coordinator.post("/api/v1/projects/VW-SOLAR/rejection", json={"reason": "Out of scope"}))
    assert _ok(developer.get("/api/v1/projects/VW-SOLAR"))["state"] == "rejected"
    problem = assert_problem(
        developer.post("/api/v1/projects/VW-SOLAR/withdrawal", json={}), 409, "invalid_transition"
    )
    assert "rejected" in problem["detail"]

    _ok(developer.post("/api/v1/projects", json={**body, "project_id": "VW-DRAFT"}), 201)
    _ok(developer.post("/api/v1/projects/VW-DRAFT/withdrawal", json={"reason": "merged"}))
    listed = _ok(developer.get("/api/v1/projects", params={"state": "withdrawn"}))["items"]
    assert [p["project_id"] for p in listed] == ["VW-DRAFT"]
    assert_problem(developer.get("/api/v1/projects/NOPE"), 404)
