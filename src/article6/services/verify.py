"""Verification of the journal and signed checkpoints.

`verify` replays every event from the first, recomputes the hash chain,
re-applies every block operation with its invariants, and compares the result
with the projection tables. It stops at the first broken event or block and
names it. A checkpoint (journal length, head hash, holdings digest, signed by
each registry's Ed25519 key) lets a Party or an auditor check later that the
journal still extends what they saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import Connection, Engine, select

from article6.collector import cycle_collection_paused
from article6.domain.blocks import (
    ACCOUNT_ID,
    BLOCK_FIELDS,
    FIRST,
    FIRST_TRANSFERRED,
    ID,
    LAST,
    STATE,
    block_to_dict,
)
from article6.domain.errors import InvariantViolation
from article6.domain.journal import GENESIS_HASH, Event, canonical, chain_hash, parse
from article6.domain.ledger import LedgerState, check_invariants
from article6.domain.model import BlockState, Purpose
from article6.store import tables as t
from article6.store.database import read_connection, stream_rows
from article6.store.keys import load_or_create_key, public_key_from_hex
from article6.store.ledger_store import BLOCK_COLUMNS

FETCH_ROWS = 5000


class BrokenJournal(Exception):
    """The first problem found, named by event or block."""


@dataclass
class VerifyReport:
    ok: bool
    events: int
    head_hash: str
    blocks: int
    problem: str | None = None
    checkpoint: dict[str, Any] | None = None
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_hash": self.head_hash,
            "blocks": self.blocks,
            "problem": self.problem,
            "checks": self.checks,
            "checkpoint": self.checkpoint,
        }


def holdings_digest(state: LedgerState) -> str:
    """SHA-256 over every live block's serials, account and state, in block order."""
    digest = hashlib.sha256()
    for block_id in sorted(state.block_rows):
        b = state.block_rows[block_id]
        if b[STATE] is not BlockState.SPLIT:
            digest.update(
                canonical(
                    [
                        b[ID],
                        b[FIRST],
                        b[LAST],
                        b[ACCOUNT_ID],
                        b[STATE].value,
                        b[FIRST_TRANSFERRED],
                    ]
                )
            )
    return digest.hexdigest()


def verify(engine: Engine, checkpoint: dict[str, Any] | None = None) -> VerifyReport:
    state = LedgerState()
    seq, head_hash = 0, GENESIS_HASH
    checks: list[str] = []
    try:
        # Replay allocates millions of small lists and dicts that never form
        # cycles; each collection would rescan the whole growing state.
        with read_connection(engine) as connection, cycle_collection_paused():
            checkpoint_digest: str | None = None
            for event, body in _events(connection):
                if event.seq != seq + 1:
                    raise BrokenJournal(f"event {seq + 1} is missing (next stored is {event.seq})")
                if event.prev_hash != head_hash:
                    raise BrokenJournal(
                        f"event {event.seq}: previous hash does not match event {seq}"
                    )
                if chain_hash(head_hash, body) != event.hash:
                    raise BrokenJournal(f"event {event.seq} ({event.command}): content was changed")
                state.apply(event)
                seq, head_hash = event.seq, event.hash
                if checkpoint is not None and seq == checkpoint["journal_length"]:
                    checkpoint_digest = holdings_digest(state)
            checks.append(f"hash chain of {seq} events")
            _check_head(connection, seq, head_hash)
            check_invariants(state)
            checks.append("conservation and unique serials per issuance")
            _compare_projections(connection, state)
            checks.append("projections match the replayed journal")
            if checkpoint is not None:
                _check_checkpoint(checkpoint, state, seq, connection, checkpoint_digest)
                checks.append(f"checkpoint at event {checkpoint['journal_length']}")
    except (BrokenJournal, InvariantViolation) as problem:
        return VerifyReport(
            False, seq, head_hash, len(state.block_rows), str(problem), checkpoint, checks
        )
    return VerifyReport(True, seq, head_hash, len(state.block_rows), None, checkpoint, checks)


_JOURNAL_ROWS = select(
    t.journal.c.seq,
    t.journal.c.body,
    t.journal.c.prev_hash,
    t.journal.c.hash,
    t.journal.c.command,
    t.journal.c.registry_id,
    t.journal.c.actor,
    t.journal.c.recorded_at,
).order_by(t.journal.c.seq)

_BLOCK_ROWS = select(*BLOCK_COLUMNS)


def _events(connection: Connection) -> Iterator[tuple[Event, bytes]]:
    """Each stored event with the exact bytes of its body, which are what was hashed.

    Every column must say what the body says, so changing any of them is found.
    """
    for seq, text, prev_hash, hash_, command, registry_id, actor, recorded_at in stream_rows(
        connection, _JOURNAL_ROWS, FETCH_ROWS
    ):
        data = text.encode("utf-8")
        try:
            body = parse(data)
        except json.JSONDecodeError as exc:
            raise BrokenJournal(f"event {seq}: body is not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise BrokenJournal(f"event {seq}: body is not a JSON object")
        if (
            body.get("seq") != seq
            or body.get("command") != command
            or body.get("registry_id") != registry_id
            or body.get("actor") != actor
            or body.get("recorded_at") != recorded_at
        ):
            stored = (seq, command, registry_id, actor, recorded_at)
            inside = tuple(
                body.get(k) for k in ("seq", "command", "registry_id", "actor", "recorded_at")
            )
            raise BrokenJournal(f"event {seq}: columns {stored} differ from its body {inside}")
        if "payload" not in body:
            raise BrokenJournal(f"event {seq}: body has no payload")
        event = Event(
            seq, command, registry_id, actor, recorded_at, body["payload"], prev_hash, hash_
        )
        yield event, data


def _check_head(connection: Connection, seq: int, head_hash: str) -> None:
    head = connection.execute(select(t.journal_head)).one()
    if (head.seq, head.hash) != (seq, head_hash):
        raise BrokenJournal(
            f"journal head says event {head.seq} ({head.hash[:12]}…) but the journal ends at "
            f"event {seq} ({head_hash[:12]}…)"
        )


def _compare_projections(connection: Connection, state: LedgerState) -> None:
    # Block rows are read in storage order (no sort, no index walk) and looked up
    # by id; of several broken rows the lowest id is named, as if read in order.
    compared = 0
    broken: tuple[Any, ...] | None = None
    rows = state.block_rows
    for row in stream_rows(connection, _BLOCK_ROWS, FETCH_ROWS):
        replayed = rows.get(row[0])
        if replayed is None:
            if broken is None or row[0] < broken[0]:
                broken = row
            continue
        compared += 1
        if list(row) != replayed and (broken is None or row[0] < broken[0]):
            broken = row  # enums equal their stored values, so only a real difference
    if broken is not None:
        _raise_block_difference(broken, state)
    if compared != len(rows):  # block ids are unique, so some were not seen
        seen = {row[0] for row in stream_rows(connection, select(t.blocks.c.block_id))}
        missing = set(rows) - seen
        raise BrokenJournal(f"block {min(missing)} is in the journal but not the database")
    balances = {
        (r.account_id, r.approach_id, r.vintage): r.quantity_t
        for r in connection.execute(select(t.balances))
        if r.quantity_t != 0
    }
    replayed_balances = state.balances()
    if balances != replayed_balances:
        key = min(set(balances.items()) ^ set(replayed_balances.items()))[0]
        raise BrokenJournal(
            f"balance of {key[0]} {key[1]} vintage {key[2]}: database {balances.get(key, 0)} t, "
            f"journal {replayed_balances.get(key, 0)} t"
        )
    usage = {
        (r.authorization_id, Purpose(r.purpose)): r.quantity_t
        for r in connection.execute(select(t.authorization_usage))
    }
    if usage != {k: v for k, v in state.usage_t.items() if v}:
        raise BrokenJournal(
            "first-transferred quantities per authorization differ from the journal"
        )


def _raise_block_difference(row: tuple[Any, ...], state: LedgerState) -> None:
    replayed = state.block_rows.get(row[0])
    if replayed is None:
        raise BrokenJournal(f"block {row[0]} is in the database but not the journal")
    expected = block_to_dict(state.blocks[row[0]])
    differing = [i for i, value in enumerate(row) if value != replayed[i]]
    raise BrokenJournal(
        f"block {row[0]}: {', '.join(BLOCK_FIELDS[i] for i in differing)} differ from the "
        f"journal (database {[row[i] for i in differing]}, "
        f"journal {[expected[BLOCK_FIELDS[i]] for i in differing]})"
    )


def make_checkpoint(engine: Engine, key_dir: Path) -> dict[str, Any]:
    """A verified checkpoint of the journal, signed by every registry kept here."""
    report = verify(engine)
    if not report.ok:
        raise BrokenJournal(f"cannot sign a checkpoint of a broken journal: {report.problem}")
    with read_connection(engine) as connection:
        state = _replay(connection, report.events)  # the verified prefix, whatever came since
    body = {
        "journal_length": report.events,
        "head_hash": report.head_hash,
        "holdings_digest": holdings_digest(state),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    signatures = {
        registry_id: load_or_create_key(key_dir, registry_id).sign(canonical(body)).hex()
        for registry_id in sorted(state.registries)
    }
    return {**body, "signatures": signatures}


def _replay(connection: Connection, events: int) -> LedgerState:
    state = LedgerState()
    for event, _ in _events(connection):
        if event.seq > events:
            break
        state.apply(event)
    return state


def _check_checkpoint(
    checkpoint: dict[str, Any],
    state: LedgerState,
    seq: int,
    connection: Connection,
    digest_then: str | None,
) -> None:
    length = checkpoint["journal_length"]
    if length > seq:
        raise BrokenJournal(f"checkpoint has {length} events but the journal only {seq}")
    row = connection.execute(select(t.journal.c.hash).where(t.journal.c.seq == length)).first()
    expected_hash = GENESIS_HASH if length == 0 else (row.hash if row else None)
    if expected_hash != checkpoint["head_hash"]:
        raise BrokenJournal(
            f"event {length} no longer has the checkpoint's hash: history was rewritten"
        )
    if digest_then is not None and digest_then != checkpoint["holdings_digest"]:
        raise BrokenJournal(f"holdings at event {length} differ from the checkpoint's digest")
    body = {
        k: checkpoint[k] for k in ("journal_length", "head_hash", "holdings_digest", "created_at")
    }
    signatures = checkpoint.get("signatures") or {}
    if not signatures:
        raise BrokenJournal("checkpoint carries no signature")
    for registry_id, signature in signatures.items():
        registry = state.registries.get(registry_id)
        if registry is None:
            raise BrokenJournal(f"checkpoint signed by unknown registry {registry_id}")
        try:
            public_key_from_hex(registry.public_key_hex).verify(
                bytes.fromhex(signature), canonical(body)
            )
        except (InvalidSignature, ValueError) as exc:
            raise BrokenJournal(f"checkpoint signature of {registry_id} is not valid") from exc
