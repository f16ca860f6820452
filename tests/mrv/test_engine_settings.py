"""The MRV engine's memory settings: sizes read with their unit, anything else refused."""

from __future__ import annotations

import pytest

from article6.mrv.engine import (
    KERNEL_MEMORY_VARIABLE,
    MEMORY_LIMIT_VARIABLE,
    duckdb_memory_limit,
    kernel_memory_bytes,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("6GB", 6 * 10**9), ("512MiB", 512 * 2**20), (" 1.5 kb ", 1500), ("2TiB", 2 * 2**40)],
)
def test_memory_settings_are_read_as_sizes(value: str, expected: int) -> None:
    assert kernel_memory_bytes({KERNEL_MEMORY_VARIABLE: value}) == expected


@pytest.mark.parametrize("value", ["lots", "6", "GB", "-1GB", "6 GB of it"])
def test_a_memory_setting_that_is_no_size_is_refused_by_name(value: str) -> None:
    for variable, read in (
        (KERNEL_MEMORY_VARIABLE, kernel_memory_bytes),
        (MEMORY_LIMIT_VARIABLE, duckdb_memory_limit),
    ):
        with pytest.raises(ValueError, match=variable):
            read({variable: value})
