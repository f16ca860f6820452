"""The daily kernel's inbox: rows handed over part by part in the sender's vehicle codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from article6.mrv.daily_inbox import Inbox

KNOWN = {"V0": 0, "V1": 1, "V2": 2}


def test_rows_come_out_in_the_kernels_codes_without_unknown_vehicles() -> None:
    inbox = Inbox(KNOWN, 4, (np.float64,))
    inbox.vehicles_are(["V2", "X", "V0"])  # the sender's codes 0, 1, 2
    inbox.add(np.array([0, 1, 2], np.int32), np.array([1.0, 2.0, 3.0]))
    vehicle, value = inbox.rows()
    assert vehicle.tolist() == [2, 0]
    assert value.tolist() == [1.0, 3.0]
    assert not vehicle.flags.writeable


def test_naming_the_codes_again_drops_what_came_before() -> None:
    """A kernel that starts over on its input sorted sends every row again."""
    inbox = Inbox(KNOWN, 4, (np.int32,))
    inbox.vehicles_are(["V0"])
    inbox.add(np.array([0, 0], np.int32), np.array([5, 6], np.int32))
    inbox.vehicles_are(["V1", "V0"])
    inbox.add(np.array([1], np.int32), np.array([7], np.int32))
    vehicle, day = inbox.rows()
    assert vehicle.tolist() == [0]
    assert day.tolist() == [7]


@given(
    st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5)), max_size=12), max_size=8),
    st.integers(0, 10),
)
def test_every_known_row_arrives_once_in_order_whatever_the_capacity(
    parts: list[list[tuple[int, int]]], capacity: int
) -> None:
    """More rows than announced make room; none is lost, repeated or reordered."""
    sender = ["V1", "V0", "unknown", "V2"]
    inbox = Inbox(KNOWN, capacity, (np.int32,))
    inbox.vehicles_are(sender)
    for part in parts:
        codes = np.array([code for code, _ in part], np.int32)
        inbox.add(codes, np.array([value for _, value in part], np.int32))
    expected = [
        (KNOWN[sender[code]], value)
        for part in parts
        for code, value in part
        if sender[code] in KNOWN
    ]
    vehicle, value = inbox.rows()
    assert list(zip(vehicle.tolist(), value.tolist(), strict=True)) == expected


def test_a_value_column_of_another_length_is_refused() -> None:
    inbox = Inbox(KNOWN, 4, (np.int32,))
    inbox.vehicles_are(["V0"])
    with pytest.raises(ValueError):
        inbox.add(np.array([0, 0], np.int32), np.array([1], np.int32))


def test_blocks_of_vehicles_wait_in_files_and_starting_over_drops_them(tmp_path: Path) -> None:
    """With two blocks (V0 in the first, V1 and V2 in the second) each block's rows go
    to a file of their own until read; naming the codes again empties them."""
    bounds = np.array([0, 1, 3], np.int64)
    inbox = Inbox(KNOWN, 0, (np.int32,), bounds, tmp_path / "steps")
    inbox.vehicles_are(["V2", "V0"])
    inbox.add(np.array([0, 1, 0], np.int32), np.array([1, 2, 3], np.int32))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["steps_0.arrow", "steps_1.arrow"]
    inbox.vehicles_are(["V1", "V0", "V2"])
    assert list(tmp_path.iterdir()) == []
    inbox.add(np.array([2, 0, 1], np.int32), np.array([7, 8, 9], np.int32))
    inbox.add(np.array([2], np.int32), np.array([10], np.int32))
    first, second = inbox.rows(0), inbox.rows(1)
    assert [column.tolist() for column in first] == [[0], [9]]
    assert [column.tolist() for column in second] == [[2, 1, 2], [7, 8, 10]]
    assert not second[0].flags.writeable
    assert list(tmp_path.iterdir()) == []  # each block's file let go once read


def test_several_blocks_need_a_place_for_their_files() -> None:
    with pytest.raises(ValueError, match="several blocks"):
        Inbox(KNOWN, 0, (np.int32,), np.array([0, 1, 3], np.int64))
