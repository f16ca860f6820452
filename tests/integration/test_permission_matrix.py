"""Every command run as every role: the allowed succeed, the others are refused
with a permission error and change nothing.

The workflow is advanced stage by stage on one SQLite database; for each
command the database of its stage is copied and the command tried once per
role on a fresh copy, so an allowed success never hides another role's result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Account, AccountKind, Approach, Entity
from article6.domain.permissions import PERMISSIONS, Actor, Command, Role
from article6.domain.projects import REVIEW_QUESTIONS, Verdict
from article6.services import actions, identity, monitoring, projects, setup
from article6.services.identity import Organisation
from article6.services.reference_workflow import (
    AUTHORIZATION_ID,
    PROJECT_ID,
    PROPOSAL,
    load_people,
)
from article6.store import tables as t
from article6.store.database import make_engine
from article6.store.migrate import upgrade

R = Role
ROLE_ACTORS = {
    "sysadmin": Actor("admin-x", "ARTICLE6-OPS", None, frozenset({R.SYSTEM_ADMINISTRATOR})),
    "chair": Actor("chair-x", "KHM-MOE", "KHM", frozenset({R.HOST_CHAIR})),
    "coordinator": Actor("coord-x", "KHM-MOE", "KHM", frozenset({R.HOST_COORDINATOR})),
    "technical-reviewer": Actor("tech-x", "KHM-MOE", "KHM", frozenset({R.HOST_TECHNICAL_REVIEWER})),
    "khm-registry": Actor("khmreg-x", "KHM-MOE", "KHM", frozenset({R.REGISTRY_ADMINISTRATOR})),
    "kor-registry": Actor("korreg-x", "KOR-MOTIE", "KOR", frozenset({R.REGISTRY_ADMINISTRATOR})),
    "acquirer": Actor("acq-x", "KOR-MOTIE", "KOR", frozenset({R.ACQUIRING_AUTHORITY})),
    "wg-member": Actor("wg-x", "GGGI", None, frozenset({R.WORKING_GROUP_MEMBER})),
    "outside-wg-member": Actor("wg-y", "IVB", None, frozenset({R.WORKING_GROUP_MEMBER})),
    "developer": Actor("dev-x", "VERYWORDS", "KOR", frozenset({R.PROJECT_DEVELOPER})),
    "other-developer": Actor("dev-y", "KOR-ISP", "KOR", frozenset({R.PROJECT_DEVELOPER})),
    "verifier": Actor("ver-x", "IVB", None, frozenset({R.VERIFIER})),
    "other-verifier": Actor("ver-y", "GGGI", None, frozenset({R.VERIFIER})),
    "financier": Actor("fin-x", "KOR-ISP", "KOR", frozenset({R.FINANCIER})),
    "observer": Actor("obs-x", "PUBLIC", None, frozenset({R.OBSERVER})),
}

# Who may do what in the reference case: the permission table, spelt out per command.
EXPECTED: dict[Command, set[str]] = {
    Command.REGISTER_PARTY: {"sysadmin"},
    Command.OPEN_REGISTRY: {"sysadmin"},
    Command.REGISTER_ORGANISATION: {"sysadmin"},
    Command.REGISTER_USER: {"sysadmin"},
    Command.REGISTER_ENTITY: {"khm-registry", "kor-registry", "coordinator"},
    Command.OPEN_ACCOUNT: {"khm-registry"},
    Command.REGISTER_APPROACH: {"coordinator"},
    Command.CONFIGURE_WORKING_GROUP: {"coordinator"},
    Command.CREATE_PROJECT: {"developer", "other-developer"},
    Command.SUBMIT_PROJECT: {"developer"},
    Command.START_REVIEW: {"coordinator"},
    Command.REJECT_PROJECT: {"coordinator", "chair"},
    Command.WITHDRAW_PROJECT: {"developer"},
    Command.REVIEW_PROJECT: {"wg-member"},
    Command.ISSUE_LOA: {"chair"},
    Command.REGISTER_PROJECT: {"coordinator"},
    Command.AMEND_LOA: {"chair"},
    Command.REVOKE_LOA: {"chair"},
    Command.SUBMIT_MONITORING_REPORT: {"developer"},
    Command.ASSIGN_VERIFIER: {"coordinator"},
    Command.VERIFY_PERIOD: {"verifier"},
    Command.REQUEST_ISSUANCE: {"developer"},
    Command.PERFORM_ISSUANCE: {"khm-registry"},
    Command.ISSUE_UNITS: {"khm-registry"},
    Command.FIRST_TRANSFER: {"khm-registry"},
    Command.TRANSFER: {"khm-registry"},
    Command.USE_UNITS: {"kor-registry", "acquirer"},
    Command.CANCEL_UNITS: {"kor-registry"},
}

D = date(2026, 3, 2)
APPROVE = {q: Verdict.APPROVE for q in REVIEW_QUESTIONS}
ENTITY = Entity("VERYWORDS", "VeryWords Co., Ltd.", "KOR", "KR-1")
Call = Callable[[Engine, Actor, Path], Any]


def sel(quantity: int) -> actions.Selection:
    return actions.Selection("CA0001", 2025, quantity)


CALLS: dict[Command, tuple[str, Call]] = {
    Command.REGISTER_PARTY: (
        "people",
        lambda e, a, k: setup.register_party(e, actor=a, code="JPN", name="Japan"),
    ),
    Command.OPEN_REGISTRY: (
        "people",
        lambda e, a, k: setup.open_registry(
            e, actor=a, registry_id="KHM02", name="Second", key_dir=k
        ),
    ),
    Command.REGISTER_ORGANISATION: (
        "people",
        lambda e, a, k: identity.register_organisation(
            e, actor=a, organisation=Organisation("NEWORG", "New", "KHM", "agency")
        ),
    ),
    Command.REGISTER_USER: (
        "people",
        lambda e, a, k: identity.register_user(
            e,
            actor=a,
            user_id="new-user",
            organisation_id="GGGI",
            name="New",
            password="long enough password",
            roles=frozenset({R.OBSERVER}),
        ),
    ),
    Command.REGISTER_ENTITY: (
        "people",
        lambda e, a, k: setup.register_entity(
            e, actor=a, entity=Entity("NEWCO", "New Co", "KHM", "KH-1")
        ),
    ),
    Command.OPEN_ACCOUNT: (
        "people",
        lambda e, a, k: setup.open_account(
            e, actor=a, account=Account("KHM01-EXTRA", "KHM01", AccountKind.HOLDING, "KHM", "x")
        ),
    ),
    Command.REGISTER_APPROACH: (
        "people",
        lambda e, a, k: setup.register_approach(
            e, actor=a, approach=Approach("CA0002", "Second", "KHM", ("KHM", "KOR"))
        ),
    ),
    Command.CONFIGURE_WORKING_GROUP: (
        "people",
        lambda e, a, k: projects.configure_working_group(
            e, actor=a, approach_id="CA0001", organisations=["KHM-MOE", "GGGI"]
        ),
    ),
    Command.CREATE_PROJECT: (
        "people",
        lambda e, a, k: projects.create_project(
            e, actor=a, project_id="P2", approach_id="CA0001", proposal=PROPOSAL
        ),
    ),
    Command.SUBMIT_PROJECT: (
        "draft",
        lambda e, a, k: projects.submit_project(e, actor=a, project_id=PROJECT_ID),
    ),
    Command.START_REVIEW: (
        "submitted",
        lambda e, a, k: projects.start_review(e, actor=a, project_id=PROJECT_ID),
    ),
    Command.REJECT_PROJECT: (
        "submitted",
        lambda e, a, k: projects.reject_project(
            e, actor=a, project_id=PROJECT_ID, reason="Out of scope"
        ),
    ),
    Command.WITHDRAW_PROJECT: (
        "submitted",
        lambda e, a, k: projects.withdraw_project(e, actor=a, project_id=PROJECT_ID),
    ),
    Command.REVIEW_PROJECT: (
        "in_review",
        lambda e, a, k: projects.review_project(
            e, actor=a, project_id=PROJECT_ID, verdicts=APPROVE
        ),
    ),
    Command.ISSUE_LOA: (
        "reviewed",
        lambda e, a, k: projects.issue_loa(
            e,
            actor=a,
            project_id=PROJECT_ID,
            authorization_id=AUTHORIZATION_ID,
            authorization_date=date(2025, 7, 18),
            developer_entity=ENTITY,
        ),
    ),
    Command.REGISTER_PROJECT: (
        "authorized",
        lambda e, a, k: projects.register_project(
            e, actor=a, project_id=PROJECT_ID, registry_id="KHM01"
        ),
    ),
    Command.AMEND_LOA: (
        "authorized",
        lambda e, a, k: projects.amend_loa(
            e,
            actor=a,
            project_id=PROJECT_ID,
            effective_from=date(2026, 1, 1),
            reason="Longer use",
            use_to=2036,
        ),
    ),
    Command.REVOKE_LOA: (
        "authorized",
        lambda e, a, k: projects.amend_loa(
            e,
            actor=a,
            project_id=PROJECT_ID,
            effective_from=date(2026, 1, 1),
            reason="Breach",
            revoke=True,
        ),
    ),
    Command.SUBMIT_MONITORING_REPORT: (
        "registered",
        lambda e, a, k: monitoring.submit_monitoring_report(
            e,
            actor=a,
            project_id=PROJECT_ID,
            period=1,
            start=date(2025, 1, 1),
            end=date(2025, 12, 31),
            reductions_t={2025: 68_000},
        ),
    ),
    Command.ASSIGN_VERIFIER: (
        "period_submitted",
        lambda e, a, k: monitoring.assign_verifier(
            e, actor=a, project_id=PROJECT_ID, period=1, verifier="IVB"
        ),
    ),
    Command.VERIFY_PERIOD: (
        "verifier_assigned",
        lambda e, a, k: monitoring.verify_period(
            e, actor=a, project_id=PROJECT_ID, period=1, verified_t={2025: 68_000}, opinion="Fair"
        ),
    ),
    Command.REQUEST_ISSUANCE: (
        "verified",
        lambda e, a, k: monitoring.request_issuance(e, actor=a, project_id=PROJECT_ID, period=1),
    ),
    Command.PERFORM_ISSUANCE: (
        "issuance_requested",
        lambda e, a, k: monitoring.perform_issuance(
            e,
            actor=a,
            project_id=PROJECT_ID,
            period=1,
            registry_id="KHM01",
            acquirer_account="KOR01-HOLDING",
            action_date=D,
        ),
    ),
    Command.ISSUE_UNITS: (
        "issued",
        lambda e, a, k: actions.issue_units(
            e,
            actor=a,
            approach_id="CA0001",
            registry_id="KHM01",
            vintage=2026,
            quantity_t=5,
            action_date=D,
            authorization_id=AUTHORIZATION_ID,
        ),
    ),
    Command.FIRST_TRANSFER: (
        "issued",
        lambda e, a, k: actions.first_transfer(
            e,
            actor=a,
            from_account="KHM01-PENDING",
            to_account="KOR01-HOLDING",
            selection=sel(100),
            authorization_id=AUTHORIZATION_ID,
            action_date=D,
        ),
    ),
    Command.TRANSFER: (
        "issued",
        lambda e, a, k: actions.transfer(
            e,
            actor=a,
            from_account="KHM01-HOLDING",
            to_account="KHM01-VERYWORDS",
            selection=sel(10),
            action_date=D,
        ),
    ),
    Command.USE_UNITS: (
        "issued",
        lambda e, a, k: actions.use_units(
            e,
            actor=a,
            from_account="KOR01-HOLDING",
            selection=sel(100),
            use_year=2030,
            action_date=D,
        ),
    ),
    Command.CANCEL_UNITS: (
        "issued",
        lambda e, a, k: actions.cancel_units(
            e, actor=a, from_account="KOR01-HOLDING", selection=sel(10), action_date=D
        ),
    ),
}


@dataclass
class Stages:
    files: dict[str, Path]
    key_dir: Path


def _snapshot(engine: Engine, target: Path) -> None:
    path = str(engine.url.database)
    with sqlite3.connect(path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)


def _build_stages(root: Path) -> Stages:
    key_dir = root / "keys"
    engine = make_engine(f"sqlite:///{root / 'stage.db'}")
    upgrade(engine)
    cast = load_people(engine, key_dir)
    files: dict[str, Path] = {}

    def mark(name: str) -> None:
        files[name] = root / f"{name}.db"
        _snapshot(engine, files[name])

    mark("people")
    projects.create_project(
        engine,
        actor=cast["verywords-dev"],
        project_id=PROJECT_ID,
        approach_id="CA0001",
        proposal=PROPOSAL,
    )
    mark("draft")
    projects.submit_project(engine, actor=cast["verywords-dev"], project_id=PROJECT_ID)
    mark("submitted")
    projects.start_review(engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
    for reviewer in ("khm-reviewer", "kor-motie", "kotra-reviewer", "kea-reviewer"):
        projects.review_project(
            engine, actor=cast[reviewer], project_id=PROJECT_ID, verdicts=APPROVE
        )
    mark("in_review")  # only GGGI's answer is missing
    projects.review_project(
        engine, actor=cast["gggi-reviewer"], project_id=PROJECT_ID, verdicts=APPROVE
    )
    mark("reviewed")
    CALLS[Command.ISSUE_LOA][1](engine, cast["khm-chair"], key_dir)
    mark("authorized")
    CALLS[Command.REGISTER_PROJECT][1](engine, cast["khm-coordinator"], key_dir)
    mark("registered")
    CALLS[Command.SUBMIT_MONITORING_REPORT][1](engine, cast["verywords-dev"], key_dir)
    mark("period_submitted")
    CALLS[Command.ASSIGN_VERIFIER][1](engine, cast["khm-coordinator"], key_dir)
    mark("verifier_assigned")
    CALLS[Command.VERIFY_PERIOD][1](engine, cast["verifier"], key_dir)
    mark("verified")
    CALLS[Command.REQUEST_ISSUANCE][1](engine, cast["verywords-dev"], key_dir)
    mark("issuance_requested")
    CALLS[Command.PERFORM_ISSUANCE][1](engine, cast["khm-registry"], key_dir)
    actions.issue_units(
        engine,
        actor=cast["khm-registry"],
        approach_id="CA0001",
        registry_id="KHM01",
        vintage=2025,
        quantity_t=1_000,
        action_date=D,
        authorization_id=AUTHORIZATION_ID,
    )
    mark("issued")
    engine.dispose()
    return Stages(files, key_dir)


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    return _build_stages(tmp_path_factory.mktemp("stages"))


def journal_head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as connection:
        head = connection.execute(select(t.journal_head)).one()
    return head.seq, head.hash


def test_every_service_command_has_a_row() -> None:
    assert set(CALLS) == set(EXPECTED)
    assert set(EXPECTED) <= set(PERMISSIONS)


@pytest.mark.parametrize("command", list(CALLS), ids=lambda c: c.value)
def test_command_as_every_role(command: Command, stages: Stages, tmp_path: Path) -> None:
    stage, call = CALLS[command]
    outcomes: dict[str, str] = {}
    for role, actor in ROLE_ACTORS.items():
        copy = tmp_path / f"{role}.db"
        with sqlite3.connect(stages.files[stage]) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        engine = make_engine(f"sqlite:///{copy}")
        before = journal_head(engine)
        try:
            call(engine, actor, stages.key_dir)
            outcomes[role] = "allowed"
        except ActionRefused as refused:
            assert refused.code is RejectionCode.PERMISSION_DENIED, (role, refused)
            assert journal_head(engine) == before, role
            outcomes[role] = "denied"
        finally:
            engine.dispose()
    allowed = {role for role, outcome in outcomes.items() if outcome == "allowed"}
    assert allowed == EXPECTED[command]
