"""Reference data and people through the API, by the roles allowed to change them."""

from __future__ import annotations

from api_support import (
    assert_problem,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]


def test_administrator_registers_party_registry_organisation_and_user(
    reference_app: FastAPI,
) -> None:
    admin = signed_in(reference_app, "admin")
    assert (
        admin.post("/api/v1/parties", json={"code": "THA", "name": "Thailand"}).status_code == 201
    )
    opened = admin.post("/api/v1/registries", json={"registry_id": "THA01", "name": "Thailand"})
    assert opened.status_code == 201, opened.text
    registries = admin.get("/api/v1/registries").json()["items"]
    assert {"THA01", "KHM01", "KOR01"} == {r["registry_id"] for r in registries}
    accounts = admin.get("/api/v1/accounts", params={"registry_id": "THA01"}).json()["items"]
    assert "THA01-PENDING" in {a["account_id"] for a in accounts}
    organisation = {
        "organisation_id": "THA-ONEP",
        "name": "ONEP",
        "party": "THA",
        "kind": "ministry",
    }
    assert admin.post("/api/v1/organisations", json=organisation).status_code == 201
    user = {
        "user_id": "tha-registry",
        "organisation_id": "THA-ONEP",
        "name": "Registry administrator",
        "password": "a-long-enough-password",
        "roles": ["registry_administrator"],
        "locale": "en",
    }
    assert admin.post("/api/v1/users", json=user).status_code == 201
    duplicate = admin.post("/api/v1/users", json=user)
    assert_problem(duplicate, 409, "already_exists")
    short = admin.post("/api/v1/users", json={**user, "user_id": "x-user", "password": "short"})
    assert "at least" in assert_problem(short, 422)["detail"]
    thai = signed_in(reference_app, "tha-registry", "a-long-enough-password")
    assert thai.get("/api/v1/session").json()["party"] == "THA"
    orgs = admin.get("/api/v1/organisations", params={"limit": 500}).json()["items"]
    assert "THA-ONEP" in {o["organisation_id"] for o in orgs}


def test_registry_and_host_set_up_entities_accounts_approaches(reference_app: FastAPI) -> None:
    registry = signed_in(reference_app, "khm-registry")
    entity = {
        "entity_id": "SOLARCO",
        "name": "SolarCo",
        "country": "KHM",
        "identification_number": "7",
    }
    assert registry.post("/api/v1/entities", json=entity).status_code == 201
    entities = registry.get("/api/v1/entities").json()["items"]
    assert {"SOLARCO", "VERYWORDS"} <= {e["entity_id"] for e in entities}
    account = {
        "account_id": "KHM01-SOLARCO",
        "registry_id": "KHM01",
        "kind": "holding",
        "holder": "SOLARCO",
        "name": "SolarCo holding",
    }
    assert registry.post("/api/v1/accounts", json=account).status_code == 201
    detail = registry.get("/api/v1/accounts/KHM01-SOLARCO").json()
    assert detail["holder"] == "SOLARCO" and detail["balances"] == []

    coordinator = signed_in(reference_app, "khm-coordinator")
    approach = {
        "approach_id": "CA0002",
        "name": "Cambodia–Korea solar irrigation",
        "host_party": "KHM",
        "participating_parties": ["KHM", "KOR"],
    }
    assert coordinator.post("/api/v1/approaches", json=approach).status_code == 201
    group = {"organisations": ["KHM-MOE", "KOR-MOTIE", "GGGI"]}
    assert coordinator.put("/api/v1/approaches/CA0002/working-group", json=group).status_code == 200
    listed = coordinator.get("/api/v1/approaches").json()["items"]
    assert [a["approach_id"] for a in listed] == ["CA0001", "CA0002"]
    authorizations = coordinator.get("/api/v1/authorizations", params={"approach_id": "CA0002"})
    assert authorizations.json()["items"] == []
    parties = coordinator.get("/api/v1/parties").json()["items"]
    assert [p["code"] for p in parties] == ["KHM", "KOR"]


def test_openapi_and_docs_are_served(reference_app: FastAPI) -> None:
    client = TestClient(reference_app)
    document = client.get("/openapi.json").json()
    assert document["info"]["title"].startswith("article6")
    assert "/api/v1/registry/transfers" in document["paths"]
    assert client.get("/docs").status_code == 200
