"""People: bootstrap, Argon2 passwords, hashed API tokens, and the CLI acting as a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from article6.cli.main import app
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Role
from article6.services import identity
from article6.services.identity import Organisation
from article6.store import workflow_tables as w

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(engine: Engine) -> identity.Actor:
    identity.bootstrap_administrator(engine, user_id="admin", name="Admin", password=PASSWORD)
    return identity.load_actor(engine, "admin")


def test_bootstrap_only_once(engine: Engine, admin: identity.Actor) -> None:
    assert Role.SYSTEM_ADMINISTRATOR in admin.roles
    with pytest.raises(ActionRefused) as refused:
        identity.bootstrap_administrator(engine, user_id="second", name="x", password=PASSWORD)
    assert refused.value.code is RejectionCode.ALREADY_EXISTS


def test_passwords_are_argon2_and_checked(engine: Engine, admin: identity.Actor) -> None:
    identity.register_organisation(
        engine, actor=admin, organisation=Organisation("KOR-MOTIE", "MOTIE", "KOR", "ministry")
    )
    identity.register_user(
        engine,
        actor=admin,
        user_id="officer",
        organisation_id="KOR-MOTIE",
        name="Officer",
        password=PASSWORD,
        roles=frozenset({Role.ACQUIRING_AUTHORITY}),
        locale="ko",
    )
    with engine.connect() as connection:
        stored = connection.execute(
            select(w.users.c.password_hash).where(w.users.c.user_id == "officer")
        ).scalar_one()
    assert stored.startswith("$argon2") and PASSWORD not in stored
    actor = identity.authenticate(engine, "officer", PASSWORD)
    assert (actor.party, actor.roles) == ("KOR", frozenset({Role.ACQUIRING_AUTHORITY}))
    for user, password in (("officer", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(ActionRefused) as refused:
            identity.authenticate(engine, user, password)
        assert refused.value.code is RejectionCode.AUTHENTICATION_FAILED
    for bad in ({"password": "short"}, {"locale": "fr"}, {"organisation_id": "NOPE"}):
        arguments = {
            "user_id": "x-user",
            "organisation_id": "KOR-MOTIE",
            "name": "X",
            "password": PASSWORD,
            "roles": frozenset({Role.OBSERVER}),
            **bad,
        }
        with pytest.raises(ActionRefused):
            identity.register_user(engine, actor=admin, **arguments)  # type: ignore[arg-type]


def test_api_tokens_are_stored_hashed(engine: Engine, admin: identity.Actor) -> None:
    token, _ = identity.issue_api_token(engine, actor=admin, label="telematics upload")
    with engine.connect() as connection:
        stored = connection.execute(select(w.api_tokens.c.token_hash)).scalar_one()
    assert token not in stored and stored == identity.token_digest(token)
    assert identity.actor_from_token(engine, token).user_id == "admin"
    with pytest.raises(ActionRefused):
        identity.actor_from_token(engine, token + "x")


def test_cli_workflow_as_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTICLE6_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--no-serve"]).exit_code == 0
    proposal = Path(__file__).parents[2] / "data" / "projects" / "vw-emoto-khm.toml"
    created = runner.invoke(
        app,
        [
            "project",
            "create",
            "--id",
            "VW-SECOND",
            "--approach",
            "CA0001",
            "--proposal",
            str(proposal),
            "--user",
            "verywords-dev",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["details"]["state"] == "draft"
    denied = runner.invoke(
        app, ["project", "submit", "--project", "VW-SECOND", "--user", "observer", "--json"]
    )
    assert denied.exit_code == 2 and json.loads(denied.output)["code"] == "permission_denied"
    submitted = runner.invoke(
        app, ["project", "submit", "--project", "VW-SECOND", "--user", "verywords-dev", "--json"]
    )
    assert json.loads(submitted.output)["details"]["state"] == "submitted"
    bad = tmp_path / "bad.toml"
    bad.write_text(proposal.read_text().replace("use_to = 2035", "use_to = 2035\ncolour = 1"))
    refused = runner.invoke(
        app,
        [
            "project",
            "create",
            "--id",
            "VW-BAD",
            "--approach",
            "CA0001",
            "--proposal",
            str(bad),
            "--user",
            "verywords-dev",
        ],
    )
    assert refused.exit_code == 2 and "colour" in refused.output
    loa = runner.invoke(
        app,
        ["project", "loa-pdf", "--authorization", "KHM-LOA-2025-001", "--out", "loa.pdf", "--json"],
    )
    assert loa.exit_code == 0 and (tmp_path / "loa.pdf").stat().st_size > 1000
    unknown_user = runner.invoke(
        app, ["project", "submit", "--project", "VW-SECOND", "--user", "ghost"]
    )
    assert unknown_user.exit_code == 2
