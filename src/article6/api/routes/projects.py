"""Projects: submission, the working group's review, the LoA, registration, and the
monitoring periods through verification to issuance; LoA and certificate PDFs."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, IdempotencyKey, PageDep
from article6.api.idempotency import call_service
from article6.api.schemas import (
    APPROACH_ID,
    ENTITY_ID,
    PROBLEMS,
    PROJECT_ID,
    AssignVerifierIn,
    LoaAmendmentIn,
    LoaIn,
    OptionalReasonIn,
    PageOut,
    PerformIssuanceIn,
    PeriodIn,
    PeriodOut,
    ProjectDetailOut,
    ProjectIn,
    ProjectOut,
    ProposalIn,
    ReasonIn,
    ReceiptOut,
    RegisterProjectIn,
    ReviewIn,
    SubmitIn,
    VerificationIn,
    page_of,
    receipt_out,
)
from article6.domain.allocation import AllocationRules
from article6.domain.model import Entity, Purpose
from article6.domain.projects import REVIEW_QUESTIONS
from article6.services import documents, monitoring, projects

router = APIRouter(prefix="/api/v1", tags=["projects"], responses=PROBLEMS)

ProjectPath = Annotated[str, Path(pattern=PROJECT_ID, examples=["VW-EMOTO-KHM"])]
PeriodPath = Annotated[int, Path(ge=1, le=1000)]


def proposal_from(body: ProposalIn) -> projects.Proposal:
    allocation = body.allocation
    return projects.Proposal(
        title=body.title,
        description=body.description,
        methodology=body.methodology,
        methodology_version=body.methodology_version,
        host_party=body.host_party,
        acquiring_party=body.acquiring_party,
        ex_ante_t=dict(body.ex_ante_t),
        allocation=AllocationRules.from_dict(allocation.model_dump()),
        use_from=body.use_from,
        use_to=body.use_to,
        documents=tuple(body.documents),
        sectors=tuple(body.sectors),
    )


@router.get("/projects", response_model=PageOut[ProjectOut])
def list_projects(
    _actor: CurrentActor,
    engine: EngineDep,
    page: PageDep,
    approach_id: Annotated[str | None, Query(pattern=APPROACH_ID)] = None,
    state: Annotated[str | None, Query(max_length=30)] = None,
) -> PageOut[ProjectOut]:
    rows = views.projects(engine, approach_id, state, page.limit, page.offset)
    return page_of([ProjectOut(**r) for r in rows], page.limit, page.offset)


@router.get("/projects/{project_id}", response_model=ProjectDetailOut)
def get_project(
    project_id: ProjectPath, _actor: CurrentActor, engine: EngineDep
) -> ProjectDetailOut:
    found = views.project(engine, project_id)
    if found is None:
        raise HTTPException(404, f"project {project_id} does not exist")
    return ProjectDetailOut(**found)


@router.post("/projects", response_model=ReceiptOut, status_code=201)
def create_project(
    body: ProjectIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.create_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=body.project_id,
            approach_id=body.approach_id,
            proposal=proposal_from(body.proposal),
        )
    )


@router.post("/projects/{project_id}/submission", response_model=ReceiptOut)
def submit_project(
    project_id: ProjectPath,
    body: SubmitIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.submit_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            proposal=None if body.proposal is None else proposal_from(body.proposal),
            reason=body.reason,
        )
    )


@router.post("/projects/{project_id}/review", response_model=ReceiptOut)
def start_review(
    project_id: ProjectPath, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.start_review, engine, actor=actor, idempotency_key=key, project_id=project_id
        )
    )


@router.post("/projects/{project_id}/reviews", response_model=ReceiptOut)
def review_project(
    project_id: ProjectPath,
    body: ReviewIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    verdicts = {question: getattr(body, question) for question in REVIEW_QUESTIONS}
    return receipt_out(
        call_service(
            projects.review_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            verdicts=verdicts,
            comment=body.comment,
        )
    )


@router.post("/projects/{project_id}/rejection", response_model=ReceiptOut)
def reject_project(
    project_id: ProjectPath,
    body: ReasonIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.reject_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            reason=body.reason,
        )
    )


@router.post("/projects/{project_id}/withdrawal", response_model=ReceiptOut)
def withdraw_project(
    project_id: ProjectPath,
    body: OptionalReasonIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.withdraw_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            reason=body.reason,
        )
    )


@router.post("/projects/{project_id}/loa", response_model=ReceiptOut)
def issue_loa(
    project_id: ProjectPath,
    body: LoaIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    entity = Entity(body.entity_id, body.entity_name, body.entity_country, body.entity_number)
    return receipt_out(
        call_service(
            projects.issue_loa,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            authorization_id=body.authorization_id,
            authorization_date=body.authorization_date,
            developer_entity=entity,
            terms=body.terms,
        )
    )


@router.post("/projects/{project_id}/loa/amendments", response_model=ReceiptOut)
def amend_loa(
    project_id: ProjectPath,
    body: LoaAmendmentIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    changes: dict[str, Any] = {}
    if body.quantity_cap_t is not None:
        changes = {
            "quantity_cap_t": body.quantity_cap_t,
            "purpose_caps_t": {Purpose.NDC: body.quantity_cap_t},
        }
    return receipt_out(
        call_service(
            projects.amend_loa,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            effective_from=body.effective_from,
            reason=body.reason,
            revoke=body.revoke,
            **changes,
        )
    )


@router.post("/projects/{project_id}/registration", response_model=ReceiptOut)
def register_project(
    project_id: ProjectPath,
    body: RegisterProjectIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.register_project,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            registry_id=body.registry_id,
        )
    )


@router.get("/projects/{project_id}/periods", response_model=PageOut[PeriodOut])
def list_periods(
    project_id: ProjectPath, _actor: CurrentActor, engine: EngineDep, page: PageDep
) -> PageOut[PeriodOut]:
    rows = views.periods(engine, project_id, page.limit, page.offset)
    return page_of([PeriodOut(**r) for r in rows], page.limit, page.offset)


@router.get("/projects/{project_id}/periods/{period}", response_model=PeriodOut)
def get_period(
    project_id: ProjectPath, period: PeriodPath, _actor: CurrentActor, engine: EngineDep
) -> PeriodOut:
    found = views.period(engine, project_id, period)
    if found is None:
        raise HTTPException(404, f"project {project_id} has no monitoring period {period}")
    return PeriodOut(**found)


@router.post("/projects/{project_id}/periods", response_model=ReceiptOut, status_code=201)
def submit_monitoring_report(
    project_id: ProjectPath,
    body: PeriodIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            monitoring.submit_monitoring_report,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            period=body.period,
            start=body.start,
            end=body.end,
            reductions_t=dict(body.reductions_t),
            calculation_run_id=body.calculation_run_id,
            input_hash=body.input_hash,
            params_hash=body.params_hash,
        )
    )


@router.post("/projects/{project_id}/periods/{period}/verifier", response_model=ReceiptOut)
def assign_verifier(
    project_id: ProjectPath,
    period: PeriodPath,
    body: AssignVerifierIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            monitoring.assign_verifier,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            period=period,
            verifier=body.verifier,
        )
    )


@router.post("/projects/{project_id}/periods/{period}/verification", response_model=ReceiptOut)
def verify_period(
    project_id: ProjectPath,
    period: PeriodPath,
    body: VerificationIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            monitoring.verify_period,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            period=period,
            verified_t=dict(body.verified_t),
            opinion=body.opinion,
        )
    )


@router.post("/projects/{project_id}/periods/{period}/issuance-request", response_model=ReceiptOut)
def request_issuance(
    project_id: ProjectPath,
    period: PeriodPath,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            monitoring.request_issuance,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            period=period,
        )
    )


@router.post("/projects/{project_id}/periods/{period}/issuance", response_model=ReceiptOut)
def perform_issuance(
    project_id: ProjectPath,
    period: PeriodPath,
    body: PerformIssuanceIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            monitoring.perform_issuance,
            engine,
            actor=actor,
            idempotency_key=key,
            project_id=project_id,
            period=period,
            registry_id=body.registry_id,
            acquirer_account=body.acquirer_account,
            action_date=body.action_date if body.action_date is not None else date.today(),
        )
    )


def _pdf_response(render: Any, filename: str) -> FileResponse:
    """Render into a private temporary folder, send the file, then remove the folder."""
    folder = tempfile.TemporaryDirectory(prefix="article6-pdf-")
    try:
        path = render(FilePath(folder.name) / filename)
    except BaseException:
        folder.cleanup()
        raise
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=filename,
        background=BackgroundTask(folder.cleanup),
    )


@router.get(
    "/authorizations/{authorization_id}/loa.pdf",
    response_class=FileResponse,
    tags=["documents"],
    responses={200: {"content": {"application/pdf": {}}}},
)
def loa_pdf(
    authorization_id: Annotated[str, Path(pattern=ENTITY_ID)],
    _actor: CurrentActor,
    engine: EngineDep,
    version: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> FileResponse:
    return _pdf_response(
        lambda out: documents.render_loa(engine, authorization_id, out, version),
        f"{authorization_id}{'' if version is None else f'-v{version}'}.pdf",
    )


@router.get(
    "/projects/{project_id}/periods/{period}/certificate.pdf",
    response_class=FileResponse,
    tags=["documents"],
    responses={200: {"content": {"application/pdf": {}}}},
)
def certificate_pdf(
    project_id: ProjectPath, period: PeriodPath, _actor: CurrentActor, engine: EngineDep
) -> FileResponse:
    return _pdf_response(
        lambda out: documents.render_issuance_certificate(engine, project_id, period, out),
        f"{project_id}-period-{period}-certificate.pdf",
    )
