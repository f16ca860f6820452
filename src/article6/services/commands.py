"""Running one command: one transaction, the journal head locked, idempotent.

Every mutating service goes through `execute`. It opens the write
transaction, answers a repeated idempotency key with the first result, lets
the handler plan with the domain and append events, stores the new head and
commits. If the handler refuses, the transaction rolls back and nothing,
not even the idempotency key, is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.journal import canonical
from article6.domain.permissions import Actor
from article6.store import tables as t
from article6.store.database import run_transaction
from article6.store.ledger_store import LedgerTransaction


@dataclass(frozen=True)
class Receipt:
    """What a command did: the journal position it reached and its own details."""

    command: str
    seq: int
    hash: str
    details: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "seq": self.seq,
            "hash": self.hash,
            "details": self.details,
            "replayed": self.replayed,
        }


Handler = Callable[[LedgerTransaction], dict[str, Any]]


@dataclass(frozen=True)
class Prepared:
    """A checked command ready to run: alone (`run_prepared`) or inside another
    command's transaction (`prepared.handler(tx)`), e.g. an issuance and its allocation."""

    actor: Actor
    command: str
    request: dict[str, Any]
    handler: Handler


def run_prepared(engine: Engine, prepared: Prepared, idempotency_key: str | None) -> Receipt:
    return execute(
        engine,
        prepared.actor,
        prepared.command,
        prepared.request,
        idempotency_key,
        prepared.handler,
    )


def execute(
    engine: Engine,
    actor: Actor,
    command: str,
    request: dict[str, Any],
    idempotency_key: str | None,
    handler: Handler,
) -> Receipt:
    request_hash = hashlib.sha256(
        canonical({"command": command, "actor": actor.user_id, "request": request})
    ).hexdigest()

    def work(connection: Connection) -> Receipt:
        tx = LedgerTransaction(connection, actor.user_id)
        if idempotency_key is not None:
            earlier = _earlier_result(connection, idempotency_key, command, request_hash)
            if earlier is not None:
                return earlier
        details = handler(tx)
        receipt = Receipt(command=command, seq=tx.seq, hash=tx.hash, details=details)
        if idempotency_key is not None:
            tx.write(
                _INSERT_IDEMPOTENCY,
                {
                    "key": idempotency_key,
                    "command": command,
                    "request_hash": request_hash,
                    "result": json.dumps(receipt.to_dict()),
                },
            )
        tx.close()  # the key, the events and the new head reach the database together
        return receipt

    return run_transaction(engine, work)


_INSERT_IDEMPOTENCY = insert(t.idempotency)


def _earlier_result(
    connection: Connection, key: str, command: str, request_hash: str
) -> Receipt | None:
    if not key or len(key) > 200:
        raise ActionRefused(
            RejectionCode.IDEMPOTENCY_CONFLICT, "idempotency key must be 1 to 200 characters"
        )
    row = connection.execute(select(t.idempotency).where(t.idempotency.c.key == key)).first()
    if row is None:
        return None
    if row.command != command or row.request_hash != request_hash:
        raise ActionRefused(
            RejectionCode.IDEMPOTENCY_CONFLICT,
            f"idempotency key {key!r} was already used for a different {row.command} request",
        )
    data = json.loads(row.result)
    return Receipt(
        command=data["command"],
        seq=data["seq"],
        hash=data["hash"],
        details=data["details"],
        replayed=True,
    )
