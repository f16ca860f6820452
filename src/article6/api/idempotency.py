"""Idempotency keys on every mutation.

Every mutating service takes an `idempotency_key` and keeps it, with the first
result, in the journal's own transaction: a replay survives restarts, is
shared by every API process and changes nothing; the same key with another
request is a conflict. Routes call services through `call_service` so that the
`Idempotency-Key` header reaches them the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from article6.domain.permissions import Actor
from article6.services.commands import Receipt


def call_service(
    service: Callable[..., Receipt],
    engine: Engine,
    *,
    actor: Actor,
    idempotency_key: str | None,
    **arguments: Any,
) -> Receipt:
    """Run a mutating service once per idempotency key; a replay returns the first receipt."""
    return service(engine, actor=actor, idempotency_key=idempotency_key, **arguments)
