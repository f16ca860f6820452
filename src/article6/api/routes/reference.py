"""Reference data of the registry: Parties, registries, entities, accounts, approaches,
authorizations, and the journal itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import MAX_PAGE_SIZE, EngineDep, IdempotencyKey, KeyDirDep, PageDep
from article6.api.idempotency import call_service
from article6.api.schemas import (
    ACCOUNT_ID,
    APPROACH_ID,
    PROBLEMS,
    REGISTRY_ID,
    AccountDetailOut,
    AccountIn,
    AccountOut,
    ApproachIn,
    ApproachOut,
    AuthorizationOut,
    EntityIn,
    EntityOut,
    JournalEventOut,
    JournalPageOut,
    PageOut,
    PartyIn,
    PartyOut,
    ReceiptOut,
    RegistryIn,
    RegistryOut,
    WorkingGroupIn,
    page_of,
    receipt_out,
)
from article6.domain.model import Account, Approach, Entity
from article6.services import projects, setup

router = APIRouter(prefix="/api/v1", tags=["reference data"], responses=PROBLEMS)


@router.get("/parties", response_model=PageOut[PartyOut])
def list_parties(_actor: CurrentActor, engine: EngineDep, page: PageDep) -> PageOut[PartyOut]:
    rows = views.parties(engine, page.limit, page.offset)
    return page_of([PartyOut(**r) for r in rows], page.limit, page.offset)


@router.post("/parties", response_model=ReceiptOut, status_code=201)
def register_party(
    body: PartyIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            setup.register_party,
            engine,
            actor=actor,
            idempotency_key=key,
            code=body.code,
            name=body.name,
        )
    )


@router.get("/registries", response_model=PageOut[RegistryOut])
def list_registries(_actor: CurrentActor, engine: EngineDep, page: PageDep) -> PageOut[RegistryOut]:
    rows = views.registries(engine, page.limit, page.offset)
    return page_of([RegistryOut(**r) for r in rows], page.limit, page.offset)


@router.post("/registries", response_model=ReceiptOut, status_code=201)
def open_registry(
    body: RegistryIn,
    actor: CurrentActor,
    engine: EngineDep,
    key_dir: KeyDirDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            setup.open_registry,
            engine,
            actor=actor,
            idempotency_key=key,
            registry_id=body.registry_id,
            name=body.name,
            key_dir=key_dir,
            standard_accounts=body.standard_accounts,
        )
    )


@router.get("/entities", response_model=PageOut[EntityOut])
def list_entities(_actor: CurrentActor, engine: EngineDep, page: PageDep) -> PageOut[EntityOut]:
    rows = views.entities(engine, page.limit, page.offset)
    return page_of([EntityOut(**r) for r in rows], page.limit, page.offset)


@router.post("/entities", response_model=ReceiptOut, status_code=201)
def register_entity(
    body: EntityIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    entity = Entity(body.entity_id, body.name, body.country, body.identification_number)
    return receipt_out(
        call_service(setup.register_entity, engine, actor=actor, idempotency_key=key, entity=entity)
    )


@router.get("/accounts", response_model=PageOut[AccountOut])
def list_accounts(
    _actor: CurrentActor,
    engine: EngineDep,
    page: PageDep,
    registry_id: Annotated[str | None, Query(pattern=REGISTRY_ID)] = None,
) -> PageOut[AccountOut]:
    rows = views.accounts(engine, registry_id, page.limit, page.offset)
    return page_of([AccountOut(**r) for r in rows], page.limit, page.offset)


@router.get("/accounts/{account_id}", response_model=AccountDetailOut)
def get_account(
    account_id: Annotated[str, Path(pattern=ACCOUNT_ID)], _actor: CurrentActor, engine: EngineDep
) -> AccountDetailOut:
    found = views.account(engine, account_id)
    if found is None:
        raise HTTPException(404, f"account {account_id} does not exist")
    return AccountDetailOut(**found)


@router.post("/accounts", response_model=ReceiptOut, status_code=201)
def open_account(
    body: AccountIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    account = Account(body.account_id, body.registry_id, body.kind, body.holder, body.name)
    return receipt_out(
        call_service(setup.open_account, engine, actor=actor, idempotency_key=key, account=account)
    )


@router.get("/approaches", response_model=PageOut[ApproachOut])
def list_approaches(_actor: CurrentActor, engine: EngineDep, page: PageDep) -> PageOut[ApproachOut]:
    rows = views.approaches(engine, page.limit, page.offset)
    return page_of([ApproachOut(**r) for r in rows], page.limit, page.offset)


@router.post("/approaches", response_model=ReceiptOut, status_code=201)
def register_approach(
    body: ApproachIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    approach = Approach(
        approach_id=body.approach_id,
        name=body.name,
        host_party=body.host_party,
        participating_parties=tuple(body.participating_parties),
        sectors=tuple(body.sectors),
        activity_types=tuple(body.activity_types),
        mitigation_type=body.mitigation_type,
    )
    return receipt_out(
        call_service(
            setup.register_approach, engine, actor=actor, idempotency_key=key, approach=approach
        )
    )


@router.put("/approaches/{approach_id}/working-group", response_model=ReceiptOut)
def configure_working_group(
    approach_id: Annotated[str, Path(pattern=APPROACH_ID)],
    body: WorkingGroupIn,
    actor: CurrentActor,
    engine: EngineDep,
    key: IdempotencyKey,
) -> ReceiptOut:
    return receipt_out(
        call_service(
            projects.configure_working_group,
            engine,
            actor=actor,
            idempotency_key=key,
            approach_id=approach_id,
            organisations=body.organisations,
        )
    )


@router.get("/authorizations", response_model=PageOut[AuthorizationOut])
def list_authorizations(
    _actor: CurrentActor,
    engine: EngineDep,
    page: PageDep,
    approach_id: Annotated[str | None, Query(pattern=APPROACH_ID)] = None,
) -> PageOut[AuthorizationOut]:
    rows = views.authorizations(engine, approach_id, page.limit, page.offset)
    return page_of([AuthorizationOut(**r) for r in rows], page.limit, page.offset)


@router.get("/journal", response_model=JournalPageOut, tags=["journal"])
def journal(
    _actor: CurrentActor,
    engine: EngineDep,
    cursor: Annotated[int, Query(ge=0, le=2**62, description="Events after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
    command: Annotated[str | None, Query(max_length=40, examples=["UnitsTransferred"])] = None,
) -> JournalPageOut:
    rows = views.journal(engine, cursor, command, limit)
    items = [JournalEventOut(**r) for r in rows[:limit]]
    more = len(rows) > limit
    return JournalPageOut(
        items=items, limit=limit, next_cursor=items[-1].seq if more and items else None
    )
