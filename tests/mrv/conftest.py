"""Shared fixtures of the MRV tests: one local Spark session for the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from article6.mrv.engine import spark_session

# Tiny test data: one shuffle partition, no adaptive re-planning and no code
# generation keep each Spark query to a fraction of a second.
TEST_SPARK_CONFIG = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = spark_session("local[2]", shuffle_partitions=1, extra_config=TEST_SPARK_CONFIG)
    yield session
    session.stop()
