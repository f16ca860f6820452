"""Registry routes: read models with ITMO identifiers, unit actions, idempotency, problems."""

from __future__ import annotations

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

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]

TRANSFER = {
    "from_account": "KOR01-HOLDING",
    "to_account": "KHM01-HOLDING",
    "selection": {"approach_id": "CA0001", "vintage": 2025, "quantity_t": 100},
    "action_date": "2026-05-01",
}


def test_holdings_show_itmo_identifiers_and_page(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "observer")
    every = client.get("/api/v1/registry/holdings").json()
    assert every["next_offset"] is None
    identifiers = {(h["account_id"], h["first_id"], h["last_id"]) for h in every["items"]}
    assert ("KHM01-HOLDING", "CA0001-KHM01-KHM-1-2025", "CA0001-KHM01-KHM-6800-2025") in identifiers
    assert sum(h["quantity_t"] for h in every["items"]) == 68_000
    first = client.get("/api/v1/registry/holdings", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_offset"] == 1
    rest = client.get("/api/v1/registry/holdings", params={"limit": 100, "offset": 1}).json()
    assert [first["items"][0], *rest["items"]] == every["items"]
    korea = client.get("/api/v1/registry/holdings", params={"registry_id": "KOR01"}).json()
    assert {h["registry_id"] for h in korea["items"]} == {"KOR01"}
    assert_problem(client.get("/api/v1/registry/holdings", params={"limit": 501}), 422)


def test_accounts_and_account_balances(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "kor-motie")
    accounts = client.get("/api/v1/accounts", params={"registry_id": "KOR01"}).json()["items"]
    held = {a["account_id"]: a["held_t"] for a in accounts}
    assert held["KOR01-HOLDING"] == 51_200
    detail = client.get("/api/v1/accounts/KOR01-HOLDING").json()
    assert detail["balances"] == [{"approach_id": "CA0001", "vintage": 2025, "quantity_t": 51_200}]
    missing = client.get("/api/v1/accounts/KOR01-NOPE")
    assert_problem(missing, 404)


def test_transfer_then_block_lineage(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "kor-registry")
    receipt = client.post("/api/v1/registry/transfers", json=TRANSFER).json()
    assert receipt["command"] == "Transfer" and receipt["replayed"] is False
    moved = receipt["details"]["blocks"][0]
    lineage = client.get(f"/api/v1/registry/blocks/{moved['block_id']}").json()
    assert lineage["block"]["account_id"] == "KHM01-HOLDING"
    assert lineage["block"]["quantity_t"] == 100
    root = lineage["ancestors"][-1]
    assert root["parent_id"] is None and root["first_id"] == "CA0001-KHM01-KHM-6801-2025"
    root_lineage = client.get(f"/api/v1/registry/blocks/{root['block_id']}").json()
    assert moved["block_id"] in {b["block_id"] for b in root_lineage["descendants"]}
    assert_problem(client.get("/api/v1/registry/blocks/999999"), 404)


def test_idempotency_key_replays_the_first_result_and_conflicts_on_change(
    reference_app: FastAPI,
) -> None:
    client = signed_in(reference_app, "kor-registry")
    headers = {"Idempotency-Key": "transfer-0001"}
    first = client.post("/api/v1/registry/transfers", json=TRANSFER, headers=headers).json()
    length = journal_length(reference_app)
    again = client.post("/api/v1/registry/transfers", json=TRANSFER, headers=headers).json()
    assert again == {**first, "replayed": True}
    assert journal_length(reference_app) == length
    changed = {**TRANSFER, "selection": {**TRANSFER["selection"], "quantity_t": 7}}
    conflict = client.post("/api/v1/registry/transfers", json=changed, headers=headers)
    assert assert_problem(conflict, 409, "idempotency_conflict")["field"] == "Idempotency-Key"
    assert journal_length(reference_app) == length


def test_use_and_cancel(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "kor-registry")
    use = {
        "from_account": "KOR01-HOLDING",
        "selection": {"approach_id": "CA0001", "vintage": 2025, "quantity_t": 1_000},
        "use_year": 2030,
        "action_date": "2026-05-01",
    }
    assert client.post("/api/v1/registry/uses", json=use).json()["command"] == "UseUnits"
    cancel = {
        "from_account": "KOR01-HOLDING",
        "selection": {"approach_id": "CA0001", "vintage": 2025, "quantity_t": 200},
        "kind": "voluntary",
        "reason": "retired on behalf of a city",
        "action_date": "2026-05-01",
    }
    assert client.post("/api/v1/registry/cancellations", json=cancel).status_code == 200
    detail = client.get("/api/v1/accounts/KOR01-HOLDING").json()
    assert detail["balances"][0]["quantity_t"] == 51_200 - 1_000 - 200


def test_issue_into_pending(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "khm-registry")
    body = {
        "approach_id": "CA0001",
        "registry_id": "KHM01",
        "vintage": 2026,
        "quantity_t": 500,
        "action_date": "2027-03-01",
    }
    receipt = client.post("/api/v1/registry/issuances", json=body).json()
    assert receipt["command"] == "IssueUnits"
    pending = client.get("/api/v1/accounts/KHM01-PENDING").json()
    assert {"approach_id": "CA0001", "vintage": 2026, "quantity_t": 500} in pending["balances"]


def test_refusals_are_problem_documents_naming_the_rule(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "kor-registry")
    length = journal_length(reference_app)
    too_many = {**TRANSFER, "selection": {**TRANSFER["selection"], "quantity_t": 10**9}}
    assert_problem(client.post("/api/v1/registry/transfers", json=too_many), 409)
    unknown = {**TRANSFER, "to_account": "KOR01-NOWHERE"}
    assert_problem(client.post("/api/v1/registry/transfers", json=unknown), 404, "unknown_account")
    invalid = {**TRANSFER, "selection": {"approach_id": "XX", "vintage": 2025, "quantity_t": 0}}
    body = assert_problem(client.post("/api/v1/registry/transfers", json=invalid), 422)
    assert body["code"] == "validation_error"
    assert {e["field"] for e in body["errors"]} == {"selection.approach_id", "selection.quantity_t"}
    assert journal_length(reference_app) == length


def test_verify_and_signed_checkpoint_round_trip(reference_app: FastAPI) -> None:
    registry = signed_in(reference_app, "khm-registry")
    report = registry.get("/api/v1/registry/verify").json()
    assert report["ok"] is True
    checkpoint = registry.post("/api/v1/registry/checkpoints").json()["checkpoint"]
    assert set(checkpoint["signatures"]) == {"KHM01", "KOR01"}
    assert registry.post("/api/v1/registry/verify", json=checkpoint).json()["ok"] is True
    forged = {**checkpoint, "holdings_digest": "0" * 64}
    verdict = registry.post("/api/v1/registry/verify", json=forged).json()
    assert verdict["ok"] is False and "digest" in verdict["report"]["problem"]


def test_journal_pages_by_cursor(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "observer")
    first = client.get("/api/v1/journal", params={"limit": 5}).json()
    assert [e["seq"] for e in first["items"]] == [1, 2, 3, 4, 5]
    assert first["next_cursor"] == 5
    second = client.get("/api/v1/journal", params={"limit": 5, "cursor": 5}).json()
    assert second["items"][0]["seq"] == 6
    assert second["items"][0]["prev_hash"] == first["items"][-1]["hash"]
    uses = client.get("/api/v1/journal", params={"command": "UnitsUsed"}).json()["items"]
    assert uses and {e["command"] for e in uses} == {"UnitsUsed"}


def test_every_api_route_needs_a_signed_in_caller(reference_app: FastAPI) -> None:
    client = TestClient(reference_app)
    checked = 0
    for path, operations in reference_app.openapi()["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/session":
            continue
        concrete = (
            path.replace("{project_id}", "VW-EMOTO-KHM")
            .replace("{period}", "1")
            .replace("{block_id}", "1")
            .replace("{account_id}", "KOR01-HOLDING")
            .replace("{authorization_id}", "KHM-LOA-2025-001")
            .replace("{approach_id}", "CA0001")
            .replace("{record_type}", "vehicles")
        )
        for method in operations:
            response = client.request(method.upper(), concrete)
            assert_problem(response, 401)
            checked += 1
    assert checked >= 40
