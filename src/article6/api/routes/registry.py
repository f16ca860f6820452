"""Registry: unit actions, holdings with ITMO identifiers, blocks, verification, checkpoints."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, IdempotencyKey, KeyDirDep, PageDep
from article6.api.idempotency import call_service
from article6.api.schemas import (
    PROBLEMS,
    REGISTRY_ID,
    CancelIn,
    CheckpointIn,
    CheckpointOut,
    FirstTransferIn,
    HoldingOut,
    IssueIn,
    LineageOut,
    PageOut,
    ReceiptOut,
    SelectionIn,
    TransferIn,
    UseIn,
    VerifyOut,
    json_page,
    receipt_out,
)
from article6.domain.permissions import Command, Target, authorize
from article6.services import actions, queries
from article6.services.verify import BrokenJournal, make_checkpoint, verify

router = APIRouter(prefix="/api/v1/registry", tags=["registry"], responses=PROBLEMS)

RegistryFilter = Annotated[str | None, Query(pattern=REGISTRY_ID, examples=["KOR01"])]


def _selection(selection: SelectionIn) -> actions.Selection:
    return actions.Selection(
        selection.approach_id, selection.vintage, selection.quantity_t, selection.first_serial
    )


def _on(day: date | None) -> date:
    return day if day is not None else date.today()


@router.post("/issuances", response_model=ReceiptOut, summary="Issue units into the host registry")
def issue(body: IssueIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey) -> ReceiptOut:
    return receipt_out(
        call_service(
            actions.issue_units,
            engine,
            actor=actor,
            idempotency_key=key,
            approach_id=body.approach_id,
            registry_id=body.registry_id,
            vintage=body.vintage,
            quantity_t=body.quantity_t,
            authorization_id=body.authorization_id,
            to_account=body.to_account,
            action_date=_on(body.action_date),
        )
    )


@router.post("/first-transfers", response_model=ReceiptOut, summary="First transfer units")
def first_transfer(
    body: FirstTransferIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            actions.first_transfer,
            engine,
            actor=actor,
            idempotency_key=key,
            from_account=body.from_account,
            to_account=body.to_account,
            selection=_selection(body.selection),
            authorization_id=body.authorization_id,
            purpose=body.purpose,
            entity=body.entity,
            action_date=_on(body.action_date),
        )
    )


@router.post("/transfers", response_model=ReceiptOut, summary="Transfer units")
def transfer(
    body: TransferIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            actions.transfer,
            engine,
            actor=actor,
            idempotency_key=key,
            from_account=body.from_account,
            to_account=body.to_account,
            selection=_selection(body.selection),
            action_date=_on(body.action_date),
        )
    )


@router.post("/uses", response_model=ReceiptOut, summary="Use units (NDC or OIMP)")
def use(body: UseIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey) -> ReceiptOut:
    return receipt_out(
        call_service(
            actions.use_units,
            engine,
            actor=actor,
            idempotency_key=key,
            from_account=body.from_account,
            selection=_selection(body.selection),
            purpose=body.purpose,
            use_year=body.use_year,
            entity=body.entity,
            action_date=_on(body.action_date),
        )
    )


@router.post("/cancellations", response_model=ReceiptOut, summary="Cancel units")
def cancel(
    body: CancelIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            actions.cancel_units,
            engine,
            actor=actor,
            idempotency_key=key,
            from_account=body.from_account,
            selection=_selection(body.selection),
            kind=body.kind,
            reason=body.reason,
            action_date=_on(body.action_date),
        )
    )


@router.get("/holdings", response_model=PageOut[HoldingOut], summary="Blocks with ITMO identifiers")
def holdings(
    _actor: CurrentActor, engine: EngineDep, page: PageDep, registry_id: RegistryFilter = None
) -> Response:
    wanted = min(page.offset + page.limit + 1, queries.MAX_ROWS)
    rows = queries.holdings(engine, registry_id, limit=wanted)[page.offset :]
    return json_page(rows, page.limit, page.offset)


@router.get("/blocks/{block_id}", response_model=LineageOut, summary="A block and its lineage")
def block_lineage(
    block_id: Annotated[int, Path(ge=1, le=2**62)],
    _actor: CurrentActor,
    engine: EngineDep,
) -> LineageOut:
    found = views.lineage(engine, block_id)
    if found is None:
        raise HTTPException(404, f"block {block_id} does not exist")
    return LineageOut(**found)


@router.get("/verify", response_model=VerifyOut, summary="Replay and check the journal")
def verify_journal(_actor: CurrentActor, engine: EngineDep) -> VerifyOut:
    report = verify(engine)
    return VerifyOut(ok=report.ok, report=report.to_dict())


@router.post("/verify", response_model=VerifyOut, summary="Verify against a signed checkpoint")
def verify_checkpoint(
    checkpoint: CheckpointIn, _actor: CurrentActor, engine: EngineDep
) -> VerifyOut:
    report = verify(engine, checkpoint.model_dump())
    return VerifyOut(ok=report.ok, report=report.to_dict())


@router.post("/checkpoints", response_model=CheckpointOut, summary="A signed checkpoint")
def checkpoint(actor: CurrentActor, engine: EngineDep, key_dir: KeyDirDep) -> CheckpointOut:
    # Checkpoints are signed with the registry keys held by this server: only a
    # registry administrator may ask for one.
    authorize(actor, Command.CHECKPOINT, Target(party=actor.party))
    try:
        data = make_checkpoint(engine, key_dir)
    except BrokenJournal as broken:
        raise HTTPException(409, str(broken)) from broken
    return CheckpointOut(checkpoint=data)
