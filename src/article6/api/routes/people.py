"""People: organisations and users (API tokens and sign-in live in `auth`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from article6.api import views
from article6.api.auth import CurrentActor
from article6.api.deps import EngineDep, IdempotencyKey, PageDep
from article6.api.idempotency import call_service
from article6.api.schemas import (
    ENTITY_ID,
    PROBLEMS,
    OrganisationIn,
    OrganisationOut,
    PageOut,
    ReceiptOut,
    UserIn,
    UserOut,
    page_of,
    receipt_out,
)
from article6.domain.permissions import PermissionDenied, Role
from article6.services import identity

router = APIRouter(prefix="/api/v1", tags=["people"], responses=PROBLEMS)


@router.get("/organisations", response_model=PageOut[OrganisationOut])
def list_organisations(
    _actor: CurrentActor, engine: EngineDep, page: PageDep
) -> PageOut[OrganisationOut]:
    rows = views.organisations(engine, page.limit, page.offset)
    return page_of([OrganisationOut(**r) for r in rows], page.limit, page.offset)


@router.post("/organisations", response_model=ReceiptOut, status_code=201)
def register_organisation(
    body: OrganisationIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    organisation = identity.Organisation(body.organisation_id, body.name, body.party, body.kind)
    return receipt_out(
        call_service(
            identity.register_organisation,
            engine,
            actor=actor,
            idempotency_key=key,
            organisation=organisation,
        )
    )


@router.get("/users", response_model=PageOut[UserOut])
def list_users(
    actor: CurrentActor,
    engine: EngineDep,
    page: PageDep,
    organisation_id: Annotated[str | None, Query(pattern=ENTITY_ID)] = None,
) -> PageOut[UserOut]:
    """System administrators see every user; others the users of their own organisation."""
    if Role.SYSTEM_ADMINISTRATOR not in actor.roles:
        if organisation_id not in (None, actor.organisation_id):
            raise PermissionDenied(
                f"{actor.user_id} may list only the users of {actor.organisation_id}"
            )
        organisation_id = actor.organisation_id
    rows = views.users(engine, organisation_id, page.limit, page.offset)
    return page_of([UserOut(**r) for r in rows], page.limit, page.offset)


@router.post("/users", response_model=ReceiptOut, status_code=201)
def register_user(
    body: UserIn, actor: CurrentActor, engine: EngineDep, key: IdempotencyKey
) -> ReceiptOut:
    return receipt_out(
        call_service(
            identity.register_user,
            engine,
            actor=actor,
            idempotency_key=key,
            user_id=body.user_id,
            organisation_id=body.organisation_id,
            name=body.name,
            password=body.password,
            roles=frozenset(body.roles),
            locale=body.locale,
        )
    )
