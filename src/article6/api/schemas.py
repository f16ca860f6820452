"""Request and response bodies of the REST API, apart from the domain records.

Responses are built from service results and read models field by field, so a
change inside the domain never leaks into the published contract unnoticed.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from article6.domain.permissions import Actor
from article6.services.commands import Receipt

T = TypeVar("T")


class ActorOut(BaseModel):
    user_id: str
    organisation_id: str
    party: str | None
    roles: list[str]


def actor_out(actor: Actor) -> ActorOut:
    return ActorOut(
        user_id=actor.user_id,
        organisation_id=actor.organisation_id,
        party=actor.party,
        roles=sorted(role.value for role in actor.roles),
    )


class ReceiptOut(BaseModel):
    """What a command did: its journal position and its own details."""

    command: str
    seq: int = Field(description="Journal sequence number reached by the command")
    hash: str = Field(description="Hash of the journal head after the command")
    details: dict[str, Any]
    replayed: bool = Field(description="True when an Idempotency-Key replay answered")


def receipt_out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut(**receipt.to_dict())


class PageOut(BaseModel, Generic[T]):
    """One page of a list: `next_offset` is null on the last page."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


def page_of(rows: list[T], limit: int, offset: int) -> PageOut[T]:
    """A page from up to limit + 1 fetched rows (one extra tells whether more follow)."""
    more = len(rows) > limit
    return PageOut[T](
        items=rows[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )
