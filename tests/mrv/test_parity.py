"""One pipeline, two engines: DuckDB and Spark give the same results on the same data.

The dataset is the faulty fleet (every quality rule broken once) plus GPS
pings, so the comparison covers rejections, gap filling, evidence filling,
GPS distance, station energy, segments and emissions.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mrv_builder import faulty_fleet, utc

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import run_pipeline
from article6.mrv.runs import compare_tables, summarise, values_match

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")


@pytest.mark.spark
def test_duckdb_and_spark_agree(tmp_path: Path, spark: Any) -> None:
    builder = faulty_fleet()
    for minute in range(12):
        ts = utc("2025-01-07", 9) + timedelta(minutes=minute)
        builder.ping("D-V_OK", ts, 11.5 + 0.004 * minute, 104.9)
    builder.ping("D-V_OK", utc("2025-01-07", 12), 30.0, 104.9)
    data = builder.write(tmp_path / "data")
    ingest_dataset(data, tmp_path / "stage")
    duck = run_pipeline(tmp_path / "stage", PARAMS, 2025, detail_dir=tmp_path / "duck")
    sparked = run_pipeline(
        tmp_path / "stage",
        PARAMS,
        2025,
        engine="spark",
        spark_session=spark,
        detail_dir=tmp_path / "spark",
    )
    assert sparked.engine == "spark"
    assert duck.vehicles.num_rows == 14
    for name in ("vehicles", "stations", "segments", "rejected", "rejected_days"):
        left, right = getattr(duck, name), getattr(sparked, name)
        assert left.schema.names == right.schema.names, name
        assert compare_tables(name, left, right) == []
    duck_daily = pq.read_table(tmp_path / "duck" / "daily.parquet").sort_by(
        [("vehicle_id", "ascending"), ("day", "ascending")]
    )
    spark_daily = pq.read_table(tmp_path / "spark" / "daily.parquet").sort_by(
        [("vehicle_id", "ascending"), ("day", "ascending")]
    )
    assert duck_daily.num_rows > 300
    assert compare_tables("daily", duck_daily, spark_daily.select(duck_daily.column_names)) == []
    duck_figures, duck_flags = summarise(duck, PARAMS)
    spark_figures, spark_flags = summarise(sparked, PARAMS)
    assert values_match(asdict(duck_figures), asdict(spark_figures))
    assert duck_flags == spark_flags
    assert duck_figures.be_t > 0
