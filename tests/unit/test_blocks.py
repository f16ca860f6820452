"""Block algebra: the split rule, selection order, exact ranges, overlap detection."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from article6.domain.blocks import (
    ACCOUNT_ID,
    BLOCK_FIELDS,
    FIRST,
    ID,
    LAST,
    STATE,
    UNDERLYING_FIRST,
    MoveBlock,
    SplitBlock,
    block_from_dict,
    block_to_dict,
    block_values,
    move,
    move_values,
    overlapping,
    plan_range,
    plan_take,
    split,
    split_values,
)
from article6.domain.errors import ActionRefused, InvariantViolation, RejectionCode
from article6.domain.model import Block, BlockState, Purpose
from tests_support import make_block


def counter(start: int = 100) -> itertools.count[int]:
    return itertools.count(start)


def test_split_keeps_low_range_and_every_attribute() -> None:
    parent = make_block(first=1, last=68_000)
    low, high = split(parent, 28_001, 10, 11)
    assert (low.first, low.last, high.first, high.last) == (1, 28_000, 28_001, 68_000)
    assert low.quantity_t + high.quantity_t == parent.quantity_t
    assert low.parent_id == high.parent_id == parent.block_id
    for child in (low, high):
        assert child.authorization_id == parent.authorization_id
        assert child.first_transferred is parent.first_transferred
        assert child.vintage == parent.vintage
    # Underlying units stay one-to-one with the ITMO serials.
    assert low.underlying_first == 5001
    assert high.underlying_first == 5001 + 28_000
    assert high.underlying_last == parent.underlying_last


@pytest.mark.parametrize("at", [1, 0, 101, 200])
def test_split_outside_the_block_is_an_invariant_violation(at: int) -> None:
    with pytest.raises(InvariantViolation):
        split(make_block(first=1, last=100), at, 2, 3)


def test_split_and_move_refuse_retired_blocks() -> None:
    used = make_block(state=BlockState.USED)
    with pytest.raises(InvariantViolation):
        split(used, 50, 2, 3)
    with pytest.raises(InvariantViolation):
        move(used, "KOR01-HOLDING", {})


def test_move_refuses_changing_identity_attributes() -> None:
    with pytest.raises(InvariantViolation, match="vintage"):
        move(make_block(), "KOR01-HOLDING", {"vintage": 2026})


def test_move_decodes_state_and_purpose() -> None:
    moved = move(
        make_block(), "KOR01-NDC-USE", {"state": "used", "purpose": "NDC", "use_year": 2030}
    )
    assert moved.state is BlockState.USED
    assert moved.purpose is Purpose.NDC
    assert moved.use_year == 2030


def test_plan_take_moves_whole_blocks_in_order_and_splits_the_last() -> None:
    blocks = [
        make_block(3, 201, 300, vintage=2025, issuance_id=2),
        make_block(1, 1, 100),
        make_block(2, 101, 150),
    ]
    ids = counter()
    ops = plan_take(blocks, 170, "KOR01-HOLDING", {}, lambda: next(ids))
    assert ops == [
        MoveBlock(1, "KHM01-PENDING", "KOR01-HOLDING", {}),
        MoveBlock(2, "KHM01-PENDING", "KOR01-HOLDING", {}),
        SplitBlock(3, 281, 100, 101),
        MoveBlock(101, "KHM01-PENDING", "KOR01-HOLDING", {}),
    ]


def test_plan_take_refuses_more_than_held() -> None:
    with pytest.raises(ActionRefused) as refused:
        plan_take([make_block(last=10)], 11, "X", {}, lambda: 9)
    assert refused.value.code is RejectionCode.INSUFFICIENT_UNITS


@pytest.mark.parametrize("quantity", [0, -5])
def test_plan_take_refuses_non_positive_quantities(quantity: int) -> None:
    with pytest.raises(ActionRefused) as refused:
        plan_take([make_block()], quantity, "X", {}, lambda: 9)
    assert refused.value.code is RejectionCode.INVALID_QUANTITY


def test_plan_range_cuts_both_ends() -> None:
    ids = counter()
    ops = plan_range(make_block(first=1, last=100), 40, 60, "KOR01-HOLDING", {}, lambda: next(ids))
    assert ops == [
        SplitBlock(1, 40, 100, 101),
        SplitBlock(101, 61, 102, 103),
        MoveBlock(102, "KHM01-PENDING", "KOR01-HOLDING", {}),
    ]


def test_plan_range_outside_block_is_refused() -> None:
    with pytest.raises(ActionRefused) as refused:
        plan_range(make_block(first=1, last=100), 90, 110, "X", {}, lambda: 9)
    assert refused.value.code is RejectionCode.SERIAL_RANGE_INVALID


def test_overlapping_finds_shared_serials_only_in_one_identifier_space() -> None:
    a = make_block(1, 1, 100)
    b = make_block(2, 100, 150)
    other_vintage = make_block(3, 1, 100, vintage=2026)
    assert overlapping([a, other_vintage]) is None
    assert overlapping([b, a, other_vintage]) == (a, b)


def test_block_round_trips_through_plain_data() -> None:
    block = make_block(purpose=Purpose.NDC, use_year=2030, state=BlockState.USED)
    assert block_from_dict(block_to_dict(block)) == block


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8),
    data=st.data(),
)
def test_plan_take_conserves_units_and_tiles_serials(sizes: list[int], data: st.DataObject) -> None:
    blocks, first = [], 1
    for index, size in enumerate(sizes, start=1):
        blocks.append(make_block(index, first, first + size - 1, underlying_first=None))
        first += size
    total = first - 1
    quantity = data.draw(st.integers(min_value=1, max_value=total))
    ids = counter(1000)
    ops = plan_take(blocks, quantity, "KOR01-HOLDING", {}, lambda: next(ids))
    live = {b.block_id: b for b in blocks}
    for op in ops:
        if isinstance(op, SplitBlock):
            low, high = split(live.pop(op.parent_id), op.at, op.low_id, op.high_id)
            live[low.block_id], live[high.block_id] = low, high
        elif isinstance(op, MoveBlock):
            live[op.block_id] = move(live[op.block_id], op.to_account, op.changes)
    moved = sum(b.quantity_t for b in live.values() if b.account_id == "KOR01-HOLDING")
    assert moved == quantity
    serials = sorted((b.first, b.last) for b in live.values())
    assert serials[0][0] == 1 and serials[-1][1] == total
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(serials))


def test_block_values_follow_the_field_order_and_give_the_block_back() -> None:
    assert tuple(f.name for f in fields(Block)) == BLOCK_FIELDS
    block = make_block(purpose=Purpose.NDC, use_year=2030, authorization_version=2)
    values = block_values(block)
    assert [values[i] for i in (ID, FIRST, LAST, ACCOUNT_ID, STATE)] == [
        block.block_id,
        block.first,
        block.last,
        block.account_id,
        block.state,
    ]
    assert Block(*values) == block


def test_split_values_leave_the_parent_unchanged() -> None:
    parent = block_values(make_block(first=1, last=100))
    before = list(parent)
    low, high = split_values(parent, 41, 7, 8)
    assert parent == before
    assert (low[ID], low[FIRST], low[LAST]) == (7, 1, 40)
    assert (high[ID], high[FIRST], high[LAST], high[UNDERLYING_FIRST]) == (8, 41, 100, 5041)


def test_move_values_decode_changes_and_refuse_like_move() -> None:
    held = block_values(make_block())
    moved = move_values(held, "KOR01-NDC-USE", {"state": "used", "purpose": "NDC"})
    assert moved[STATE] is BlockState.USED and held[STATE] is BlockState.HELD
    assert Block(*moved) == move(make_block(), "KOR01-NDC-USE", {"state": "used", "purpose": "NDC"})
    with pytest.raises(InvariantViolation, match="vintage"):
        move_values(held, "KOR01-HOLDING", {"vintage": 2026})
    with pytest.raises(InvariantViolation, match="cannot move"):
        move_values(moved, "KOR01-HOLDING", {})
    with pytest.raises(ValueError):
        move_values(held, "KOR01-HOLDING", {"state": "lost"})


@given(
    first=st.integers(min_value=1, max_value=1_000),
    size=st.integers(min_value=2, max_value=1_000),
    data=st.data(),
)
def test_split_on_values_and_on_blocks_agree(first: int, size: int, data: st.DataObject) -> None:
    block = make_block(first=first, last=first + size - 1)
    at = data.draw(st.integers(min_value=first + 1, max_value=first + size - 1))
    low, high = split(block, at, 10, 11)
    low_values, high_values = split_values(block_values(block), at, 10, 11)
    assert (Block(*low_values), Block(*high_values)) == (low, high)
