"""Every role's forbidden routes: 403 problem+json naming the rule, and nothing changed.

Each mutating route is called, with a request that is valid for the reference
case, by every demo user whose roles the permission table does not allow to
run it; the journal must not grow.
"""

from __future__ import annotations

from typing import Any

from api_support import (
    assert_problem,
    journal_length,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

from article6.services.reference_workflow import USERS

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]

EVERYONE = frozenset({"admin", *(user[0] for user in USERS)})
WORKING_GROUP = {"khm-reviewer", "kor-motie", "gggi-reviewer", "kotra-reviewer", "kea-reviewer"}
PROJECT = "/api/v1/projects/VW-EMOTO-KHM"
SELECTION = {"approach_id": "CA0001", "vintage": 2025, "quantity_t": 10}
PROPOSAL: dict[str, Any] = {
    "title": "Solar pumps",
    "description": "Solar irrigation pumps replacing diesel pumps.",
    "methodology": "AMS-I.B",
    "methodology_version": "12.0",
    "host_party": "KHM",
    "acquiring_party": "KOR",
    "ex_ante_t": {"2026": 1000},
    "allocation": {"host_share": "1/10", "acquirer_cap_t": 500},
    "use_from": 2026,
    "use_to": 2030,
}

# (method, path, body, the users allowed to run it)
MUTATIONS: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    (
        "POST",
        "/api/v1/registry/issuances",
        {"approach_id": "CA0001", "registry_id": "KHM01", "vintage": 2026, "quantity_t": 10},
        {"khm-registry"},
    ),
    (
        "POST",
        "/api/v1/registry/first-transfers",
        {
            "from_account": "KHM01-HOLDING",
            "to_account": "KOR01-HOLDING",
            "selection": SELECTION,
            "authorization_id": "KHM-LOA-2025-001",
        },
        {"khm-registry"},
    ),
    (
        "POST",
        "/api/v1/registry/transfers",
        {"from_account": "KOR01-HOLDING", "to_account": "KHM01-HOLDING", "selection": SELECTION},
        {"kor-registry"},
    ),
    (
        "POST",
        "/api/v1/registry/uses",
        {"from_account": "KOR01-HOLDING", "selection": SELECTION, "use_year": 2030},
        {"kor-registry", "kor-motie"},
    ),
    (
        "POST",
        "/api/v1/registry/cancellations",
        {"from_account": "KOR01-HOLDING", "selection": SELECTION},
        {"kor-registry"},
    ),
    ("POST", "/api/v1/registry/checkpoints", None, {"khm-registry", "kor-registry"}),
    ("POST", "/api/v1/parties", {"code": "THA", "name": "Thailand"}, {"admin"}),
    ("POST", "/api/v1/registries", {"registry_id": "KHM02", "name": "Second"}, {"admin"}),
    (
        "POST",
        "/api/v1/organisations",
        {"organisation_id": "NEWORG", "name": "New", "party": "KHM", "kind": "agency"},
        {"admin"},
    ),
    (
        "POST",
        "/api/v1/users",
        {
            "user_id": "new-user",
            "organisation_id": "KHM-MOE",
            "name": "New",
            "password": "a-long-password",
            "roles": ["observer"],
        },
        {"admin"},
    ),
    (
        "POST",
        "/api/v1/entities",
        {"entity_id": "NEWCO", "name": "NewCo", "country": "KHM", "identification_number": "1"},
        # Entities are shared reference data: any registry administrator or host coordinator.
        {"khm-registry", "khm-coordinator", "kor-registry"},
    ),
    (
        "POST",
        "/api/v1/accounts",
        {
            "account_id": "KHM01-NEWCO",
            "registry_id": "KHM01",
            "kind": "holding",
            "holder": "KHM",
            "name": "New holding",
        },
        {"khm-registry"},
    ),
    (
        "POST",
        "/api/v1/approaches",
        {
            "approach_id": "CA0002",
            "name": "Second approach",
            "host_party": "KHM",
            "participating_parties": ["KHM", "KOR"],
        },
        {"khm-coordinator"},
    ),
    (
        "PUT",
        "/api/v1/approaches/CA0001/working-group",
        {"organisations": ["KHM-MOE", "KOR-MOTIE"]},
        {"khm-coordinator"},
    ),
    (
        "POST",
        "/api/v1/projects",
        {"project_id": "VW-SOLAR", "approach_id": "CA0001", "proposal": PROPOSAL},
        {"verywords-dev"},
    ),
    ("POST", f"{PROJECT}/submission", {}, {"verywords-dev"}),
    ("POST", f"{PROJECT}/review", None, {"khm-coordinator"}),
    (
        "POST",
        f"{PROJECT}/reviews",
        {"methodology": "approve", "total_reductions": "approve", "allocation_ratios": "approve"},
        WORKING_GROUP,
    ),
    ("POST", f"{PROJECT}/rejection", {"reason": "no"}, {"khm-coordinator", "khm-chair"}),
    ("POST", f"{PROJECT}/withdrawal", {"reason": "no"}, {"verywords-dev"}),
    (
        "POST",
        f"{PROJECT}/loa",
        {
            "authorization_id": "KHM-LOA-2025-009",
            "authorization_date": "2026-01-01",
            "entity_id": "VERYWORDS",
            "entity_name": "VeryWords Co., Ltd.",
            "entity_country": "KOR",
            "entity_number": "KR-110111-0000000",
        },
        {"khm-chair"},
    ),
    (
        "POST",
        f"{PROJECT}/loa/amendments",
        {"effective_from": "2026-06-01", "reason": "cap", "quantity_cap_t": 300_000},
        {"khm-chair"},
    ),
    ("POST", f"{PROJECT}/registration", {"registry_id": "KHM01"}, {"khm-coordinator"}),
    (
        "POST",
        f"{PROJECT}/periods",
        {"period": 2, "start": "2026-01-01", "end": "2026-12-31", "reductions_t": {"2026": 9}},
        {"verywords-dev"},
    ),
    ("POST", f"{PROJECT}/periods/1/verifier", {"verifier": "IVB"}, {"khm-coordinator"}),
    (
        "POST",
        f"{PROJECT}/periods/1/verification",
        {"verified_t": {"2025": 68000}, "opinion": "fine"},
        {"verifier"},
    ),
    ("POST", f"{PROJECT}/periods/1/issuance-request", None, {"verywords-dev"}),
    (
        "POST",
        f"{PROJECT}/periods/1/issuance",
        {"registry_id": "KHM01", "acquirer_account": "KOR01-HOLDING"},
        {"khm-registry"},
    ),
]


def test_every_role_is_refused_what_the_permission_table_does_not_grant(
    reference_app: FastAPI,
) -> None:
    clients: dict[str, TestClient] = {user: signed_in(reference_app, user) for user in EVERYONE}
    before = journal_length(reference_app)
    refused = 0
    for method, path, body, allowed in MUTATIONS:
        assert allowed <= EVERYONE, path
        for user in sorted(EVERYONE - allowed):
            response = clients[user].request(method, path, json=body)
            problem = assert_problem(response, 403, "permission_denied")
            assert user in problem["detail"], (user, path)
            refused += 1
    assert journal_length(reference_app) == before
    assert refused > 300


def test_only_system_administrators_list_other_organisations_users(
    reference_app: FastAPI,
) -> None:
    chair = signed_in(reference_app, "khm-chair")
    own = chair.get("/api/v1/users").json()["items"]
    assert {u["organisation_id"] for u in own} == {"KHM-MOE"}
    assert all("password" not in key for u in own for key in u)
    assert_problem(chair.get("/api/v1/users", params={"organisation_id": "IVB"}), 403)
    admin = signed_in(reference_app, "admin")
    assert len(admin.get("/api/v1/users").json()["items"]) == len(USERS) + 1
