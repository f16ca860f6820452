"""The project workflow end to end through the services, with its refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from article6.domain.allocation import AllocationRules, RemainderTo
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Entity
from article6.domain.projects import REVIEW_QUESTIONS, Verdict
from article6.services import finance_reference, monitoring, projects, queries
from article6.services.finance_reference import REFERENCE_AGREEMENT_ID
from article6.services.finance_status import agreement_report
from article6.services.reference_workflow import (
    AUTHORIZATION_ID,
    PROJECT_ID,
    PROPOSAL,
    Cast,
    load_first_period,
    load_people,
    load_project_to_registration,
)
from article6.services.verify import verify
from article6.store import tables as t
from article6.store import workflow_tables as w

APPROVE = {q: Verdict.APPROVE for q in REVIEW_QUESTIONS}
REVIEWERS = ("khm-reviewer", "kor-motie", "gggi-reviewer", "kotra-reviewer", "kea-reviewer")


@pytest.fixture
def cast(engine: Engine, key_dir: Path) -> Cast:
    return load_people(engine, key_dir)


def journal_length(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.journal)).scalar_one())


def state_of(engine: Engine, project_id: str = PROJECT_ID) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                select(w.projects.c.state).where(w.projects.c.project_id == project_id)
            ).scalar_one()
        )


def refused(engine: Engine, call: object, **kwargs: object) -> RejectionCode:
    before = journal_length(engine)
    with pytest.raises(ActionRefused) as error:
        call(engine, **kwargs)  # type: ignore[operator]
    assert journal_length(engine) == before
    return error.value.code


def test_reference_workflow_issues_and_allocates(engine: Engine, cast: Cast) -> None:
    load_project_to_registration(engine, cast)
    assert state_of(engine) == "registered"
    with engine.connect() as connection:
        version = connection.execute(select(t.authorizations.c.data)).scalar_one()
    assert '"quantity_cap_t":400000' in version and '"vintage_to":2034' in version
    load_first_period(engine, cast)
    balances = queries.balances(engine)
    assert balances[("KHM01-HOLDING", "CA0001", 2025)] == 6_800
    assert balances[("KOR01-HOLDING", "CA0001", 2025)] == 51_200
    assert balances[("KOR01-NDC-USE", "CA0001", 2025)] == 10_000
    held_by_host = [r for r in queries.holdings(engine, "KHM01") if r.account_id == "KHM01-HOLDING"]
    assert [r.authorization for r in held_by_host] == [None]  # the host's share is never an ITMO
    assert verify(engine).ok


def test_requested_changes_send_the_project_back(engine: Engine, cast: Cast) -> None:
    dev = cast["verywords-dev"]
    projects.create_project(
        engine, actor=dev, project_id=PROJECT_ID, approach_id="CA0001", proposal=PROPOSAL
    )
    projects.submit_project(engine, actor=dev, project_id=PROJECT_ID)
    projects.start_review(engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
    projects.review_project(
        engine, actor=cast["gggi-reviewer"], project_id=PROJECT_ID, verdicts=APPROVE
    )
    assert (
        refused(
            engine,
            projects.review_project,
            actor=cast["gggi-reviewer"],
            project_id=PROJECT_ID,
            verdicts=APPROVE,
        )
        is RejectionCode.ALREADY_EXISTS
    )
    no_reason = {**APPROVE, "allocation_ratios": Verdict.REQUEST_CHANGES}
    assert (
        refused(
            engine,
            projects.review_project,
            actor=cast["kea-reviewer"],
            project_id=PROJECT_ID,
            verdicts=no_reason,
        )
        is RejectionCode.INVALID_REVIEW
    )
    projects.review_project(
        engine,
        actor=cast["kea-reviewer"],
        project_id=PROJECT_ID,
        verdicts=no_reason,
        comment="Host share should be 10 %.",
    )
    assert state_of(engine) == "changes_requested"
    assert (
        refused(
            engine,
            projects.issue_loa,
            actor=cast["khm-chair"],
            project_id=PROJECT_ID,
            authorization_id="X",
            authorization_date=date(2025, 7, 18),
            developer_entity=Entity("VERYWORDS", "VeryWords", "KOR", "1"),
        )
        is RejectionCode.INVALID_TRANSITION
    )
    revised = replace(PROPOSAL, allocation=replace(PROPOSAL.allocation, host_share=Fraction(1, 10)))
    projects.submit_project(engine, actor=dev, project_id=PROJECT_ID, proposal=revised)
    projects.start_review(engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
    for reviewer in REVIEWERS:
        projects.review_project(
            engine, actor=cast[reviewer], project_id=PROJECT_ID, verdicts=APPROVE
        )
    assert state_of(engine) == "reviewed"


def test_invalid_transitions_and_wrong_people_are_refused(engine: Engine, cast: Cast) -> None:
    dev = cast["verywords-dev"]
    projects.create_project(
        engine, actor=dev, project_id=PROJECT_ID, approach_id="CA0001", proposal=PROPOSAL
    )
    assert (
        refused(engine, projects.start_review, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
        is RejectionCode.INVALID_TRANSITION
    )
    assert (
        refused(engine, projects.submit_project, actor=cast["kor-motie"], project_id=PROJECT_ID)
        is RejectionCode.PERMISSION_DENIED
    )
    projects.submit_project(engine, actor=dev, project_id=PROJECT_ID)
    assert (
        refused(
            engine,
            projects.reject_project,
            actor=cast["khm-coordinator"],
            project_id=PROJECT_ID,
            reason=" ",
        )
        is RejectionCode.INVALID_REVIEW
    )
    projects.withdraw_project(engine, actor=dev, project_id=PROJECT_ID, reason="Redesign")
    assert state_of(engine) == "withdrawn"
    assert (
        refused(engine, projects.submit_project, actor=dev, project_id=PROJECT_ID)
        is RejectionCode.INVALID_TRANSITION
    )
    assert (
        refused(engine, projects.submit_project, actor=dev, project_id="NO-SUCH")
        is RejectionCode.UNKNOWN_ENTITY
    )


def test_monitoring_verification_rules(engine: Engine, cast: Cast) -> None:
    load_project_to_registration(engine, cast)
    dev = cast["verywords-dev"]
    assert (
        refused(
            engine,
            monitoring.submit_monitoring_report,
            actor=dev,
            project_id=PROJECT_ID,
            period=1,
            start=date(2024, 1, 1),
            end=date(2024, 12, 31),
            reductions_t={2024: 10},
        )
        is RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME
    )
    monitoring.submit_monitoring_report(
        engine,
        actor=dev,
        project_id=PROJECT_ID,
        period=1,
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
        reductions_t={2025: 1_000},
        calculation_run_id="run-1",
        input_hash="ab" * 32,
    )
    assert refused(
        engine,
        monitoring.verify_period,
        actor=cast["verifier"],
        project_id=PROJECT_ID,
        period=1,
        verified_t={2025: 1_000},
        opinion="ok",
    ) is (RejectionCode.PERMISSION_DENIED)  # no verifier assigned yet
    assert refused(
        engine,
        monitoring.assign_verifier,
        actor=cast["khm-coordinator"],
        project_id=PROJECT_ID,
        period=1,
        verifier="VERYWORDS",
    ) is (RejectionCode.PERMISSION_DENIED)
    monitoring.assign_verifier(
        engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID, period=1, verifier="IVB"
    )
    assert (
        refused(
            engine,
            monitoring.verify_period,
            actor=cast["verifier"],
            project_id=PROJECT_ID,
            period=1,
            verified_t={2025: 1_001},
            opinion="ok",
        )
        is RejectionCode.INVALID_QUANTITY
    )
    assert (
        refused(engine, monitoring.request_issuance, actor=dev, project_id=PROJECT_ID, period=1)
        is RejectionCode.INVALID_TRANSITION
    )
    monitoring.verify_period(
        engine,
        actor=cast["verifier"],
        project_id=PROJECT_ID,
        period=1,
        verified_t={2025: 900},
        opinion="Adjusted for a meter error.",
    )
    monitoring.request_issuance(engine, actor=dev, project_id=PROJECT_ID, period=1)
    assert refused(
        engine,
        monitoring.perform_issuance,
        actor=cast["kor-registry"],
        project_id=PROJECT_ID,
        period=1,
        registry_id="KHM01",
        acquirer_account="KOR01-HOLDING",
        action_date=date(2026, 3, 1),
    ) is (RejectionCode.PERMISSION_DENIED)
    receipt = monitoring.perform_issuance(
        engine,
        actor=cast["khm-registry"],
        project_id=PROJECT_ID,
        period=1,
        registry_id="KHM01",
        acquirer_account="KOR01-HOLDING",
        action_date=date(2026, 3, 1),
    )
    assert receipt.details["allocation"] == {
        "2025": {"adaptation_fund": 0, "omge": 0, "host": 90, "acquirer": 810, "remainder": 0}
    }
    assert refused(
        engine,
        monitoring.perform_issuance,
        actor=cast["khm-registry"],
        project_id=PROJECT_ID,
        period=1,
        registry_id="KHM01",
        acquirer_account="KOR01-HOLDING",
        action_date=date(2026, 3, 1),
    ) is (RejectionCode.INVALID_TRANSITION)


def test_allocation_with_share_of_proceeds_omge_and_developer(engine: Engine, cast: Cast) -> None:
    rules = AllocationRules(
        host_share=Fraction(1, 10),
        acquirer_cap_t=1_000,
        share_of_proceeds=Fraction(5, 100),
        omge_share=Fraction(2, 100),
        remainder_to=RemainderTo.DEVELOPER,
    )
    proposal = replace(PROPOSAL, allocation=rules)
    dev = cast["verywords-dev"]
    projects.create_project(
        engine, actor=dev, project_id=PROJECT_ID, approach_id="CA0001", proposal=proposal
    )
    projects.submit_project(engine, actor=dev, project_id=PROJECT_ID)
    projects.start_review(engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
    for reviewer in REVIEWERS:
        projects.review_project(
            engine, actor=cast[reviewer], project_id=PROJECT_ID, verdicts=APPROVE
        )
    projects.issue_loa(
        engine,
        actor=cast["khm-chair"],
        project_id=PROJECT_ID,
        authorization_id=AUTHORIZATION_ID,
        authorization_date=date(2025, 7, 18),
        developer_entity=Entity("VERYWORDS", "VeryWords", "KOR", "1"),
    )
    projects.register_project(
        engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID, registry_id="KHM01"
    )
    load_first_period(engine, cast, reductions_t=20_000, use_t=0)
    balances = {k[0]: v for k, v in queries.balances(engine).items()}
    assert balances == {
        "KHM01-ADAPTATION": 1_000,
        "KHM01-OMGE-CANCEL": 400,
        "KHM01-HOLDING": 1_860,
        "KOR01-HOLDING": 1_000,
        "KHM01-VERYWORDS": 15_740,
    }
    assert verify(engine).ok


def test_issuance_repays_the_financier_in_the_same_transaction(engine: Engine, cast: Cast) -> None:
    load_project_to_registration(engine, cast)
    finance_reference.load_reference_agreement(engine, record_deliveries=False)
    load_first_period(engine, cast)
    report = agreement_report(engine, REFERENCE_AGREEMENT_ID, date(2026, 6, 30))
    text = "\n".join(report.lines())
    assert "Delivered 61,200 t" in text
    assert "recovered 909,676,800 KRW" in text  # 61,200 t at 14,864 KRW


def test_workflow_commands_honour_idempotency_keys(engine: Engine, cast: Cast) -> None:
    load_project_to_registration(engine, cast)
    report = {
        "actor": cast["verywords-dev"],
        "project_id": PROJECT_ID,
        "period": 1,
        "start": date(2025, 1, 1),
        "end": date(2025, 12, 31),
        "reductions_t": {2025: 500},
        "idempotency_key": "period-1",
    }
    first = monitoring.submit_monitoring_report(engine, **report)  # type: ignore[arg-type]
    length = journal_length(engine)
    again = monitoring.submit_monitoring_report(engine, **report)  # type: ignore[arg-type]
    assert again.replayed and again.seq == first.seq and journal_length(engine) == length
    changed = {**report, "reductions_t": {2025: 501}}
    assert refused(engine, monitoring.submit_monitoring_report, **changed) is (
        RejectionCode.IDEMPOTENCY_CONFLICT
    )
