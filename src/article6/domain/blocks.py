"""Serial-block algebra and the one split rule.

A partial action on a block splits it at a serial: the holder keeps the low
range and the high range moves. When several blocks are needed they are taken
in the order (vintage, issuance, first serial), whole blocks first, and only
the last one is split. Children inherit every attribute of their parent.

Changes are expressed as `Op` values (create, split, move). The service layer
applies them to the database, replay applies them to an in-memory state, and
the journal stores them, so all three agree by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from article6.domain.errors import ActionRefused, InvariantViolation, RejectionCode
from article6.domain.model import Block, BlockState, Metric, MitigationType, Purpose


@dataclass(frozen=True)
class CreateBlock:
    block: Block


@dataclass(frozen=True)
class SplitBlock:
    """Replace `parent_id` by `[first, at - 1]` (low_id) and `[at, last]` (high_id)."""

    parent_id: int
    at: int
    low_id: int
    high_id: int


@dataclass(frozen=True)
class MoveBlock:
    """Move a whole block to another account and set some of its attributes."""

    block_id: int
    from_account: str
    to_account: str
    changes: Mapping[str, Any]


Op = CreateBlock | SplitBlock | MoveBlock

MUTABLE_ATTRIBUTES = frozenset(
    {"state", "first_transferred", "authorization_version", "purpose", "use_year"}
)


def split(block: Block, at: int, low_id: int, high_id: int) -> tuple[Block, Block]:
    """Split a held block at serial `at`; the parent itself is then marked split."""
    low, high = split_values(block_values(block), at, low_id, high_id)
    return Block(*low), Block(*high)


def move(block: Block, to_account: str, changes: Mapping[str, Any]) -> Block:
    return Block(*move_values(block_values(block), to_account, changes))


# --- the same rules on a block's values ----------------------------------------------
#
# Replaying a long journal splits and moves blocks hundreds of thousands of
# times. Building a frozen dataclass for every step costs more than everything
# else verify does, so replay keeps each block as a list of its values in
# BLOCK_FIELDS order (enums as their members) and `split` and `move` above are
# these same functions on a `Block`: one rule, two representations.

BLOCK_FIELDS = (
    "block_id",
    "issuance_id",
    "parent_id",
    "first",
    "last",
    "account_id",
    "state",
    "approach_id",
    "originating_registry",
    "first_transferring_party",
    "vintage",
    "metric",
    "mitigation_type",
    "authorization_id",
    "authorization_version",
    "first_transferred",
    "purpose",
    "use_year",
    "underlying_registry",
    "underlying_first",
)

BlockValues = list[Any]

ID = BLOCK_FIELDS.index("block_id")
ISSUANCE_ID = BLOCK_FIELDS.index("issuance_id")
PARENT_ID = BLOCK_FIELDS.index("parent_id")
FIRST = BLOCK_FIELDS.index("first")
LAST = BLOCK_FIELDS.index("last")
ACCOUNT_ID = BLOCK_FIELDS.index("account_id")
STATE = BLOCK_FIELDS.index("state")
APPROACH_ID = BLOCK_FIELDS.index("approach_id")
VINTAGE = BLOCK_FIELDS.index("vintage")
AUTHORIZATION_ID = BLOCK_FIELDS.index("authorization_id")
AUTHORIZATION_VERSION = BLOCK_FIELDS.index("authorization_version")
FIRST_TRANSFERRED = BLOCK_FIELDS.index("first_transferred")
PURPOSE = BLOCK_FIELDS.index("purpose")
UNDERLYING_FIRST = BLOCK_FIELDS.index("underlying_first")

_values_of = attrgetter(*BLOCK_FIELDS)
_CHANGE_INDEX = {name: BLOCK_FIELDS.index(name) for name in MUTABLE_ATTRIBUTES}


def block_values(block: Block) -> BlockValues:
    """A block's values in BLOCK_FIELDS order; `Block(*values)` gives the block back."""
    return list(_values_of(block))


def split_values(
    values: BlockValues, at: int, low_id: int, high_id: int
) -> tuple[BlockValues, BlockValues]:
    """`split` on values: the low `[first, at - 1]` and high `[at, last]` children."""
    if values[STATE] is not BlockState.HELD:
        raise InvariantViolation(f"block {values[ID]} is {values[STATE]}, cannot be split")
    if not values[FIRST] < at <= values[LAST]:
        raise InvariantViolation(
            f"split point {at} outside ({values[FIRST]}, {values[LAST]}] of block {values[ID]}"
        )
    low = values.copy()
    low[ID], low[PARENT_ID], low[LAST] = low_id, values[ID], at - 1
    high = values.copy()
    high[ID], high[PARENT_ID], high[FIRST] = high_id, values[ID], at
    if values[UNDERLYING_FIRST] is not None:
        high[UNDERLYING_FIRST] = values[UNDERLYING_FIRST] + (at - values[FIRST])
    return low, high


def move_values(values: BlockValues, to_account: str, changes: Mapping[str, Any]) -> BlockValues:
    """`move` on values: the block in `to_account` with `changes` decoded and applied."""
    unknown = [name for name in changes if name not in _CHANGE_INDEX]
    if unknown:
        raise InvariantViolation(f"attributes {sorted(unknown)} of a block never change")
    if values[STATE] is not BlockState.HELD:
        raise InvariantViolation(f"block {values[ID]} is {values[STATE]} and cannot move")
    moved = values.copy()
    moved[ACCOUNT_ID] = to_account
    for name, value in changes.items():
        if name == "state":
            value = BlockState(value)
        elif name == "purpose" and value is not None:
            value = Purpose(value)
        moved[_CHANGE_INDEX[name]] = value
    return moved


def selection_order(block: Block) -> tuple[int, int, int]:
    return (block.vintage, block.issuance_id, block.first)


def plan_take(
    candidates: Iterable[Block],
    quantity_t: int,
    to_account: str,
    changes: Mapping[str, Any],
    next_block_id: Callable[[], int],
) -> list[Op]:
    """Ops that move exactly `quantity_t` units of `candidates` to `to_account`.

    Candidates must all be held in one account. Raises INSUFFICIENT_UNITS when
    they do not add up to the quantity.
    """
    if quantity_t <= 0:
        raise ActionRefused(RejectionCode.INVALID_QUANTITY, f"quantity {quantity_t} must be > 0")
    ordered = sorted(candidates, key=selection_order)
    available = sum(b.quantity_t for b in ordered)
    if available < quantity_t:
        raise ActionRefused(
            RejectionCode.INSUFFICIENT_UNITS,
            f"{quantity_t} t requested but only {available} t eligible units are held",
        )
    ops: list[Op] = []
    remaining = quantity_t
    for block in ordered:
        if remaining == 0:
            break
        if block.quantity_t <= remaining:
            ops.append(MoveBlock(block.block_id, block.account_id, to_account, dict(changes)))
            remaining -= block.quantity_t
            continue
        at = block.last - remaining + 1
        low_id, high_id = next_block_id(), next_block_id()
        ops.append(SplitBlock(block.block_id, at, low_id, high_id))
        ops.append(MoveBlock(high_id, block.account_id, to_account, dict(changes)))
        remaining = 0
    return ops


def plan_range(
    held: Block,
    first: int,
    last: int,
    to_account: str,
    changes: Mapping[str, Any],
    next_block_id: Callable[[], int],
) -> list[Op]:
    """Ops that move the exact serial range `[first, last]` out of one held block."""
    if not held.first <= first <= last <= held.last:
        raise ActionRefused(
            RejectionCode.SERIAL_RANGE_INVALID,
            f"serials {first}-{last} are not inside held block {held.first}-{held.last}",
        )
    ops: list[Op] = []
    current = held.block_id
    current_first, current_last = held.first, held.last
    if first > current_first:
        low_id, high_id = next_block_id(), next_block_id()
        ops.append(SplitBlock(current, first, low_id, high_id))
        current, current_first = high_id, first
    if last < current_last:
        low_id, high_id = next_block_id(), next_block_id()
        ops.append(SplitBlock(current, last + 1, low_id, high_id))
        current = low_id
    ops.append(MoveBlock(current, held.account_id, to_account, dict(changes)))
    return ops


def overlapping(blocks: Sequence[Block]) -> tuple[Block, Block] | None:
    """The first pair of blocks of one identifier space whose serials overlap."""

    def key(b: Block) -> tuple[str, str, str, int, int]:
        return (
            b.approach_id,
            b.originating_registry,
            b.first_transferring_party,
            b.vintage,
            b.first,
        )

    ordered = sorted(blocks, key=key)
    for previous, current in itertools.pairwise(ordered):
        same_space = key(previous)[:4] == key(current)[:4]
        if same_space and current.first <= previous.last:
            return previous, current
    return None


def op_to_dict(op: Op) -> dict[str, Any]:
    if isinstance(op, CreateBlock):
        return {"op": "create", "block": block_to_dict(op.block)}
    if isinstance(op, SplitBlock):
        return {
            "op": "split",
            "parent": op.parent_id,
            "at": op.at,
            "low": op.low_id,
            "high": op.high_id,
        }
    return {
        "op": "move",
        "block": op.block_id,
        "from": op.from_account,
        "to": op.to_account,
        "changes": dict(op.changes),
    }


def op_from_dict(data: Mapping[str, Any]) -> Op:
    kind = data["op"]
    if kind == "create":
        return CreateBlock(block_from_dict(data["block"]))
    if kind == "split":
        return SplitBlock(data["parent"], data["at"], data["low"], data["high"])
    if kind == "move":
        return MoveBlock(data["block"], data["from"], data["to"], data["changes"])
    raise InvariantViolation(f"unknown block operation {kind!r}")


def block_to_dict(block: Block) -> dict[str, Any]:
    return {name: _plain(getattr(block, name)) for name in BLOCK_FIELDS}


def block_from_dict(data: Mapping[str, Any]) -> Block:
    values = {name: data[name] for name in BLOCK_FIELDS}
    values["state"] = BlockState(values["state"])
    values["metric"] = Metric(values["metric"])
    values["mitigation_type"] = MitigationType(values["mitigation_type"])
    values["purpose"] = None if values["purpose"] is None else Purpose(values["purpose"])
    values["first_transferred"] = bool(values["first_transferred"])
    return Block(**values)


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value
