"""The project workflow screens: proposal, review and sign-off, LoA, registration,
monitoring periods with their data, verification and issuance.

Every button posts one service command; a refusal is shown on the project page
with the rule it broke, and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from article6.domain.allocation import AllocationRules, RemainderTo
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Entity, Purpose
from article6.domain.permissions import Actor, Role
from article6.domain.projects import REVIEW_QUESTIONS, Verdict
from article6.services import monitoring, projects
from article6.web import forms, readmodels
from article6.web.context import (
    engine_of,
    flash,
    form_of,
    gate,
    not_found,
    redirect,
    render,
    viewer_locale,
    words_of,
)
from article6.web.i18n import format_number
from article6.web.uploads import UploadCheck, check_upload

router = APIRouter()
STEPS = ("draft", "submitted", "in_review", "reviewed", "authorized", "registered")


@router.get("/projects", include_in_schema=False)
def project_list(request: Request) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    return render(
        request,
        "projects.html",
        active="projects",
        projects=readmodels.projects(engine_of(request)),
        may_create=viewer.has(Role.PROJECT_DEVELOPER),
    )


@router.get("/projects/new", include_in_schema=False)
def new_project_form(request: Request) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    return _new_form(request, {}, None)


def _new_form(request: Request, values: dict[str, Any], error: ActionRefused | None) -> Response:
    defaults = {
        "methodology": "AMS-III.C",
        "methodology_version": "16.0",
        "host_party": "KHM",
        "acquiring_party": "KOR",
        "host_share": "10",
        "acquirer_cap_t": "400000",
        "remainder_to": "developer",
        "use_from": "2025",
        "use_to": "2035",
        "ex_ante": "\n".join(f"{year} = 68000" for year in range(2025, 2035)),
    }
    return render(
        request,
        "project_new.html",
        status_code=400 if error else 200,
        active="projects",
        values=defaults | values,
        approaches=readmodels.approaches(engine_of(request)),
        error=error,
    )


@router.post("/projects/new", include_in_schema=False)
async def create_project(request: Request) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    try:
        project_id = forms.text(form, "project_id", limit=64)
        ex_ante = forms.vintage_table(form, "ex_ante")
        proposal = projects.Proposal(
            title=forms.text(form, "title"),
            description=forms.text(form, "description", limit=4000),
            methodology=forms.text(form, "methodology", limit=60),
            methodology_version=forms.text(form, "methodology_version", limit=20),
            host_party=forms.text(form, "host_party", limit=3),
            acquiring_party=forms.text(form, "acquiring_party", limit=3),
            ex_ante_t=ex_ante,
            allocation=AllocationRules(
                host_share=forms.percent(form, "host_share"),
                acquirer_cap_t=forms.whole(form, "acquirer_cap_t"),
                remainder_to=RemainderTo(forms.text(form, "remainder_to", limit=20)),
            ),
            use_from=forms.whole(form, "use_from"),
            use_to=forms.whole(form, "use_to"),
        )
        await run_in_threadpool(
            projects.create_project,
            engine_of(request),
            actor=viewer.actor,
            project_id=project_id,
            approach_id=forms.text(form, "approach_id", limit=6),
            proposal=proposal,
        )
    except ActionRefused as refused:
        return _new_form(request, form, refused)
    except ValueError as wrong:
        return _new_form(request, form, ActionRefused(RejectionCode.INVALID_QUANTITY, str(wrong)))
    flash(request, words_of(request).gettext("Draft %(project)s saved.", project=project_id))
    return redirect(request, f"/projects/{project_id}")


@router.get("/projects/{project_id}", include_in_schema=False)
def project_page(request: Request, project_id: str) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    return _detail(request, project_id, None, None)


def _detail(
    request: Request,
    project_id: str,
    error: ActionRefused | None,
    upload: UploadCheck | None,
    status_code: int = 200,
) -> Response:
    engine = engine_of(request)
    detail = readmodels.project(engine, project_id)
    if detail is None:
        return not_found(
            request, words_of(request).gettext("No project %(project)s.", project=project_id)
        )
    viewer = gate(request, "projects")
    assert not isinstance(viewer, Response) and viewer.actor is not None
    actor = viewer.actor
    host = detail.proposal.host_party == actor.party
    own = detail.developer == actor.organisation_id
    organisations = readmodels.organisations(engine)
    entity_name = organisations.get(detail.developer, (detail.developer, None, ""))[0]
    can = {
        "submit": Role.PROJECT_DEVELOPER in actor.roles
        and own
        and detail.state in ("draft", "changes_requested"),
        "withdraw": Role.PROJECT_DEVELOPER in actor.roles
        and own
        and detail.state in ("draft", "submitted", "in_review", "changes_requested", "reviewed"),
        "start_review": Role.HOST_COORDINATOR in actor.roles
        and host
        and detail.state == "submitted",
        "review": Role.WORKING_GROUP_MEMBER in actor.roles
        and detail.state == "in_review"
        and actor.organisation_id in detail.pending_members,
        "reject": (Role.HOST_COORDINATOR in actor.roles or Role.HOST_CHAIR in actor.roles)
        and host
        and detail.state in ("submitted", "in_review", "reviewed"),
        "issue_loa": Role.HOST_CHAIR in actor.roles and host and detail.state == "reviewed",
        "amend_loa": Role.HOST_CHAIR in actor.roles
        and host
        and detail.state in ("authorized", "registered"),
        "register": Role.HOST_COORDINATOR in actor.roles and host and detail.state == "authorized",
        "submit_period": Role.PROJECT_DEVELOPER in actor.roles
        and own
        and detail.state == "registered",
        "assign_verifier": Role.HOST_COORDINATOR in actor.roles and host,
        "verify": Role.VERIFIER in actor.roles,
        "request_issuance": Role.PROJECT_DEVELOPER in actor.roles and own,
        "issue": Role.REGISTRY_ADMINISTRATOR in actor.roles and host,
        "documents": True,
    }
    verifiers = sorted(o for o, (_n, _p, kind) in organisations.items() if kind == "verifier")
    registries = [r for r in readmodels.registries(engine) if r[1] == detail.proposal.host_party]
    acquirer_accounts = [
        a.account_id
        for a in readmodels.accounts(engine)
        if a.party == detail.proposal.acquiring_party and a.kind == "holding"
    ]
    versions = [
        v
        for v in readmodels.authorizations(engine)
        if v.authorization_id == (detail.authorization_id)
    ]
    step_index = STEPS.index(detail.state) if detail.state in STEPS else -1
    return render(
        request,
        "project.html",
        status_code=status_code,
        active="projects",
        project=detail,
        can=can,
        error=error,
        upload=upload,
        steps=STEPS,
        step_index=step_index,
        questions=REVIEW_QUESTIONS,
        verifiers=verifiers,
        registries=registries,
        acquirer_accounts=acquirer_accounts,
        versions=versions,
        developer_name=entity_name,
        organisations=organisations,
        next_period=max((p.period for p in detail.periods), default=0) + 1,
        today=date.today().isoformat(),
    )


Command = Callable[[dict[str, Any], Actor], str]


async def _act(request: Request, project_id: str, command: Command) -> Response:
    """Check sign-in and CSRF, run one command, then show the project again."""
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    try:
        message = await run_in_threadpool(command, form, viewer.actor)
    except ActionRefused as refused:
        return _detail(request, project_id, refused, None, status_code=400)
    flash(request, message)
    return redirect(request, f"/projects/{project_id}")


@router.post("/projects/{project_id}/submit", include_in_schema=False)
async def submit(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        projects.submit_project(engine_of(request), actor=actor, project_id=project_id)
        return words_of(request).gettext("Project submitted for review.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/withdraw", include_in_schema=False)
async def withdraw(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        projects.withdraw_project(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            reason=forms.text(form, "reason", required=False, limit=1000),
        )
        return words_of(request).gettext("Project withdrawn.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/start-review", include_in_schema=False)
async def start_review(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        projects.start_review(engine_of(request), actor=actor, project_id=project_id)
        return words_of(request).gettext("The working group review is open.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/review", include_in_schema=False)
async def review(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        verdicts: dict[str, Verdict] = {}
        for question in REVIEW_QUESTIONS:
            value = forms.text(form, f"verdict_{question}", limit=20)
            try:
                verdicts[question] = Verdict(value)
            except ValueError:
                raise ActionRefused(
                    RejectionCode.INVALID_REVIEW, f"verdict_{question}: {value!r} is not a verdict"
                ) from None
        projects.review_project(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            verdicts=verdicts,
            comment=forms.text(form, "comment", required=False, limit=4000),
        )
        return words_of(request).gettext(
            "Review of %(organisation)s recorded.", organisation=actor.organisation_id
        )

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/reject", include_in_schema=False)
async def reject(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        projects.reject_project(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            reason=forms.text(form, "reason", limit=1000),
        )
        return words_of(request).gettext("Project rejected.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/loa", include_in_schema=False)
async def issue_loa(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        authorization_id = forms.text(form, "authorization_id", limit=64)
        projects.issue_loa(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            authorization_id=authorization_id,
            authorization_date=forms.day(form, "authorization_date"),
            developer_entity=Entity(
                forms.text(form, "entity_id", limit=64),
                forms.text(form, "entity_name"),
                forms.text(form, "entity_country", limit=3),
                forms.text(form, "entity_number", limit=100),
            ),
            terms=forms.text(form, "terms", required=False, limit=4000),
        )
        return words_of(request).gettext(
            "Letter of Authorization %(authorization)s issued.", authorization=authorization_id
        )

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/loa/amend", include_in_schema=False)
async def amend_loa(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        engine = engine_of(request)
        detail = readmodels.project(engine, project_id)
        changes: dict[str, Any] = {}
        cap = forms.optional_whole(form, "quantity_cap_t", minimum=1)
        if cap is not None and detail is not None and detail.authorization_id is not None:
            current = [
                v
                for v in readmodels.authorizations(engine)
                if v.authorization_id == detail.authorization_id
            ][-1]
            changes["quantity_cap_t"] = cap
            changes["purpose_caps_t"] = {
                purpose: (cap if limit == current.quantity_cap_t else min(limit, cap))
                for purpose, limit in current.purpose_caps_t.items()
            } or {Purpose.NDC: cap}
        use_to = forms.optional_whole(form, "use_to", minimum=2000)
        if use_to is not None:
            changes["use_to"] = use_to
        terms = forms.text(form, "terms", required=False, limit=4000)
        if terms:
            changes["terms"] = terms
        projects.amend_loa(
            engine,
            actor=actor,
            project_id=project_id,
            effective_from=forms.day(form, "effective_from"),
            reason=forms.text(form, "reason", limit=1000),
            revoke=form.get("revoke") == "yes",
            **changes,
        )
        return words_of(request).gettext("The Letter of Authorization was amended.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/register", include_in_schema=False)
async def register(request: Request, project_id: str) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        projects.register_project(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            registry_id=forms.text(form, "registry_id", limit=5),
        )
        return words_of(request).gettext("Project registered.")

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/periods", include_in_schema=False)
async def submit_period(request: Request, project_id: str) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    raw_files = form.get("data_files")
    listed = raw_files if isinstance(raw_files, list) else [raw_files]
    files = [f for f in listed if isinstance(f, UploadFile) and f.filename]
    upload: UploadCheck | None = None
    try:
        period = forms.whole(form, "period", minimum=1)
        start, end = forms.day(form, "start"), forms.day(form, "end")
        reductions = forms.vintage_table(form, "reductions")
        if files:
            upload = await check_upload(files)
            if not upload.accepted:
                raise ActionRefused(
                    RejectionCode.INVALID_IDENTIFIER,
                    words_of(request).gettext(
                        "The monitoring data was not accepted: %(reason)s",
                        reason=upload.refusal or "",
                    ),
                )
        await run_in_threadpool(
            monitoring.submit_monitoring_report,
            engine_of(request),
            actor=viewer.actor,
            project_id=project_id,
            period=period,
            start=start,
            end=end,
            reductions_t=reductions,
            input_hash=None
            if upload is None or upload.report is None
            else upload.report.input_hash,
        )
    except ActionRefused as refused:
        return _detail(request, project_id, refused, upload, status_code=400)
    words = words_of(request)
    if upload is not None and upload.report is not None:
        read, accepted, quarantined = upload.report.totals()
        return _detail_with_message(
            request,
            project_id,
            upload,
            words.gettext(
                "Monitoring period %(period)s submitted with its data: %(read)s rows read, "
                "%(accepted)s accepted, %(quarantined)s quarantined.",
                period=period,
                read=read,
                accepted=accepted,
                quarantined=quarantined,
            ),
        )
    flash(request, words.gettext("Monitoring period %(period)s submitted.", period=period))
    return redirect(request, f"/projects/{project_id}")


def _detail_with_message(
    request: Request, project_id: str, upload: UploadCheck, message: str
) -> Response:
    flash(request, message)
    return _detail(request, project_id, None, upload)


@router.post("/projects/{project_id}/periods/{period}/verifier", include_in_schema=False)
async def assign_verifier(request: Request, project_id: str, period: int) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        verifier = forms.text(form, "verifier", limit=64)
        monitoring.assign_verifier(
            engine_of(request), actor=actor, project_id=project_id, period=period, verifier=verifier
        )
        return words_of(request).gettext(
            "%(verifier)s assigned to period %(period)s.", verifier=verifier, period=period
        )

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/periods/{period}/verify", include_in_schema=False)
async def verify(request: Request, project_id: str, period: int) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        monitoring.verify_period(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            period=period,
            verified_t=forms.vintage_table(form, "verified"),
            opinion=forms.text(form, "opinion", limit=4000),
        )
        return words_of(request).gettext("Period %(period)s verified.", period=period)

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/periods/{period}/request-issuance", include_in_schema=False)
async def request_issuance(request: Request, project_id: str, period: int) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        monitoring.request_issuance(
            engine_of(request), actor=actor, project_id=project_id, period=period
        )
        return words_of(request).gettext("Issuance requested for period %(period)s.", period=period)

    return await _act(request, project_id, run)


@router.post("/projects/{project_id}/periods/{period}/issue", include_in_schema=False)
async def issue(request: Request, project_id: str, period: int) -> Response:
    def run(form: dict[str, Any], actor: Actor) -> str:
        receipt = monitoring.perform_issuance(
            engine_of(request),
            actor=actor,
            project_id=project_id,
            period=period,
            registry_id=forms.text(form, "registry_id", limit=5),
            acquirer_account=forms.text(form, "acquirer_account", limit=50),
            action_date=forms.day(form, "action_date"),
        )
        issued = sum(
            sum(parts.values()) for parts in receipt.details.get("allocation", {}).values()
        )
        return words_of(request).gettext(
            "%(quantity)s t issued and allocated for period %(period)s.",
            quantity=format_number(issued, viewer_locale(request)),
            period=period,
        )

    return await _act(request, project_id, run)
