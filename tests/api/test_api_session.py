"""Sign-in, sessions, API tokens, the login rate limit and the session secret."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    assert_problem,
    reference_app,
    reference_postgres_template,
    reference_template,
    signed_in,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from article6.api.auth import LoginRateLimiter, session_secret
from article6.services import identity
from article6.services.reference_workflow import DEMO_PASSWORD
from article6.store import workflow_tables as w

__all__ = ["reference_app", "reference_postgres_template", "reference_template"]


def test_sign_in_whoami_and_sign_out(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "khm-chair")
    me = client.get("/api/v1/session").json()
    assert me == {
        "user_id": "khm-chair",
        "organisation_id": "KHM-MOE",
        "party": "KHM",
        "roles": ["host_chair"],
    }
    assert client.delete("/api/v1/session").status_code == 204
    assert_problem(client.get("/api/v1/session"), 401)


def test_wrong_password_and_unknown_user_get_the_same_401(reference_app: FastAPI) -> None:
    client = TestClient(reference_app)
    wrong = client.post("/api/v1/session", json={"user_id": "khm-chair", "password": "nope-nope"})
    unknown = client.post("/api/v1/session", json={"user_id": "nobody", "password": "nope-nope"})
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]
    assert "article6_session" not in client.cookies


def test_a_tampered_session_cookie_is_anonymous(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "khm-chair")
    cookie = client.cookies["article6_session"]
    client.cookies.set("article6_session", cookie[:-4] + "AAAA")
    assert_problem(client.get("/api/v1/session"), 401)


def test_api_token_works_as_bearer_and_a_bad_token_is_401(reference_app: FastAPI) -> None:
    client = signed_in(reference_app, "verywords-dev")
    issued = client.post("/api/v1/session/tokens", json={"label": "telematics upload"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    machine = TestClient(reference_app)
    me = machine.get("/api/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["user_id"] == "verywords-dev"
    assert_problem(machine.get("/api/v1/session", headers={"Authorization": "Bearer a6_x"}), 401)
    assert_problem(machine.get("/api/v1/session", headers={"Authorization": "Basic abc"}), 401)


def test_a_revoked_token_or_a_deactivated_user_loses_access_at_once(
    reference_app: FastAPI,
) -> None:
    """Every request checks the token and its user again: no cached actor outlives a change."""
    client = signed_in(reference_app, "verywords-dev")
    tokens = [
        client.post("/api/v1/session/tokens", json={"label": label}).json()["token"]
        for label in ("first", "second")
    ]
    machine = TestClient(reference_app)

    def whoami(token: str) -> int:
        return machine.get(
            "/api/v1/session", headers={"Authorization": f"Bearer {token}"}
        ).status_code

    assert [whoami(token) for token in tokens] == [200, 200]
    engine = reference_app.state.engine
    with engine.begin() as connection:
        connection.execute(
            update(w.api_tokens)
            .where(w.api_tokens.c.token_hash == identity.token_digest(tokens[0]))
            .values(revoked=True)
        )
    assert_problem(
        machine.get("/api/v1/session", headers={"Authorization": f"Bearer {tokens[0]}"}), 401
    )
    assert whoami(tokens[1]) == 200
    with engine.begin() as connection:
        connection.execute(
            update(w.users).where(w.users.c.user_id == "verywords-dev").values(active=False)
        )
    assert whoami(tokens[1]) == 401
    assert_problem(client.get("/api/v1/session"), 401)


def test_login_is_rate_limited_per_user_and_per_address(reference_app: FastAPI) -> None:
    reference_app.state.login_limiter = LoginRateLimiter(
        reference_app.state.engine, attempts=3, window_s=60
    )
    client = TestClient(reference_app)
    for _ in range(3):
        bad = {"user_id": "khm-chair", "password": "wrong-password"}
        assert_problem(client.post("/api/v1/session", json=bad), 401)
    # The right password is refused too while the user is throttled.
    good = {"user_id": "khm-chair", "password": DEMO_PASSWORD}
    throttled = client.post("/api/v1/session", json=good)
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    # Same address, another user: the address is throttled as well.
    other = {"user_id": "khm-registry", "password": DEMO_PASSWORD}
    assert_problem(client.post("/api/v1/session", json=other), 429)


def test_session_secret_is_generated_once_or_taken_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTICLE6_SECRET_KEY", raising=False)
    first = session_secret(tmp_path / "keys")
    assert len(first) >= 32
    assert session_secret(tmp_path / "keys") == first
    assert (tmp_path / "keys" / "session-secret").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("ARTICLE6_SECRET_KEY", "x" * 40)
    assert session_secret(tmp_path / "keys") == "x" * 40
    monkeypatch.setenv("ARTICLE6_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        session_secret(tmp_path / "keys")


def _secret_after_barrier(key_dir: Path, barrier: Any, out: Any) -> None:
    barrier.wait()
    out.put(session_secret(key_dir))


def test_workers_starting_together_all_read_one_whole_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Server workers start at the same moment: each reads the one secret, whole."""
    monkeypatch.delenv("ARTICLE6_SECRET_KEY", raising=False)
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(8), context.Queue()
    workers = [
        context.Process(target=_secret_after_barrier, args=(tmp_path / "keys", barrier, out))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    read = [out.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(set(read)) == 1 and len(read[0]) >= 32
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["session-secret"]
