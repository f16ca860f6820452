"""The hash chain of journal events.

Each event's hash is SHA-256 over the previous event's hash and the event's
canonical body (JSON with sorted keys, no spaces, UTF-8), so changing, removing
or reordering any event changes every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

import orjson

GENESIS_HASH = "0" * 64


def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse(data: bytes) -> Any:
    """Decode a stored body (its UTF-8 bytes) exactly as `json.loads` decodes its text, faster.

    orjson decodes the JSON written here to the same values a few times faster,
    which matters when verify reads every event. It reads integers beyond 64
    bits as floats, so a body with a run of 19 or more digits (anywhere, even in
    a string) goes to the standard library, as does whatever orjson refuses
    (NaN, lone surrogates, invalid JSON): the result, or the error, is always
    `json.loads`'s.
    """
    if _LONG_DIGIT_RUN not in data.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data.decode("utf-8"))


# Every digit becomes "0" (and nothing else does), so a run of 19 digits is a run of 19 zeros.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_DIGIT_RUN = b"0" * 19


def chain_hash(previous_hash: str, body: bytes) -> str:
    return hashlib.sha256(previous_hash.encode("ascii") + body).hexdigest()


class Event(NamedTuple):
    """One appended journal event; `body` is exactly the bytes that were hashed.

    A named tuple, not a frozen dataclass: verify builds one per stored event,
    and a tuple is built several times faster.
    """

    seq: int
    command: str
    registry_id: str | None
    actor: str
    recorded_at: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def body(self) -> bytes:
        return event_body(
            self.seq, self.command, self.registry_id, self.actor, self.recorded_at, self.payload
        )


def event_body(
    seq: int,
    command: str,
    registry_id: str | None,
    actor: str,
    recorded_at: str,
    payload: dict[str, Any],
) -> bytes:
    return canonical(
        {
            "seq": seq,
            "command": command,
            "registry_id": registry_id,
            "actor": actor,
            "recorded_at": recorded_at,
            "payload": payload,
        }
    )


def make_event(
    seq: int,
    command: str,
    registry_id: str | None,
    actor: str,
    recorded_at: str,
    payload: dict[str, Any],
    prev_hash: str,
) -> Event:
    body = event_body(seq, command, registry_id, actor, recorded_at, payload)
    return Event(
        seq,
        command,
        registry_id,
        actor,
        recorded_at,
        payload,
        prev_hash,
        chain_hash(prev_hash, body),
    )
