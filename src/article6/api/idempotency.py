"""Idempotency keys on every mutation.

Services that take an `idempotency_key` keep the key and the first result in
the journal's own transaction, so a replay survives restarts and is shared by
every API process. For the few services that do not take one yet, the API
remembers the first result of a key itself, per process and in a bounded
table, and answers a replay from it; the same key with another request is a
conflict either way.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Actor
from article6.services.commands import Receipt

MAX_REMEMBERED_KEYS = 10_000


class _Remembered:
    def __init__(self) -> None:
        self.results: OrderedDict[str, tuple[str, Receipt]] = OrderedDict()
        self.lock = threading.Lock()
        self.key_locks: dict[str, threading.Lock] = {}


# One table per database (engine), so two applications never answer from each other's keys.
_REMEMBERED: weakref.WeakKeyDictionary[Engine, _Remembered] = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def _remembered(engine: Engine) -> _Remembered:
    with _TABLES_LOCK:
        table = _REMEMBERED.get(engine)
        if table is None:
            table = _REMEMBERED[engine] = _Remembered()
        return table


def _accepts_key(service: Callable[..., Receipt]) -> bool:
    return "idempotency_key" in inspect.signature(service).parameters


def call_service(
    service: Callable[..., Receipt],
    engine: Engine,
    *,
    actor: Actor,
    idempotency_key: str | None,
    **arguments: Any,
) -> Receipt:
    """Run a mutating service once per idempotency key; a replay returns the first receipt."""
    if idempotency_key is None:
        return service(engine, actor=actor, **arguments)
    if _accepts_key(service):
        return service(engine, actor=actor, idempotency_key=idempotency_key, **arguments)
    fingerprint = hashlib.sha256(
        json.dumps(
            {"service": service.__qualname__, "arguments": arguments},
            sort_keys=True,
            default=repr,
        ).encode("utf-8")
    ).hexdigest()
    scoped = f"{actor.user_id}\x00{idempotency_key}"
    remembered = _remembered(engine)
    with remembered.lock:
        key_lock = remembered.key_locks.setdefault(scoped, threading.Lock())
    with key_lock:
        with remembered.lock:
            earlier = remembered.results.get(scoped)
        if earlier is not None:
            if earlier[0] != fingerprint:
                raise ActionRefused(
                    RejectionCode.IDEMPOTENCY_CONFLICT,
                    f"idempotency key {idempotency_key!r} was already used for another request",
                )
            return replace(earlier[1], replayed=True)
        receipt = service(engine, actor=actor, **arguments)
        with remembered.lock:
            remembered.results[scoped] = (fingerprint, receipt)
            while len(remembered.results) > MAX_REMEMBERED_KEYS:
                forgotten, _ = remembered.results.popitem(last=False)
                remembered.key_locks.pop(forgotten, None)
        return receipt
