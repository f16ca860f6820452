"""Monitoring report of a real pipeline run over a simulated fleet with injected faults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import run_pipeline
from article6.mrv.report import write_report
from article6.mrv.report_data import report_data_from_pipeline
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]


def test_report_of_a_pipeline_run_carries_its_figures(tmp_path: Path) -> None:
    data_dir, staging, detail = tmp_path / "data", tmp_path / "staging", tmp_path / "detail"
    simulate_fleet(SimulationConfig(60, date(2025, 1, 1), 45, data_dir, seed=4, fault_rate=0.2))
    ingest = ingest_dataset(data_dir, staging)
    params = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
    result = run_pipeline(staging, params, 2025, detail_dir=detail)
    read, accepted, _ = ingest.totals()
    data = report_data_from_pipeline(
        result,
        params,
        run_id="sim-4",
        project="Korea-Cambodia e-motorcycles",
        input_hash=ingest.input_hash,
        code_version="test",
        staging_dir=staging,
        daily=pq.read_table(detail / "daily.parquet"),
        rows_read=read,
        rows_accepted=accepted,
    )
    total = data.totals[0]
    # Allocation of project emissions to segments and vehicles conserves the totals.
    assert sum(v.er_t for v in data.vehicles) == pytest.approx(total.be_t - total.pe_t)
    assert sum(s.pe_t for s in data.segments) == pytest.approx(total.pe_t)
    assert sum(m.distance_km for m in data.months) == pytest.approx(
        sum(v.distance_km for v in data.vehicles)
    )
    assert len(data.vehicles) == result.vehicles.num_rows
    reasons = {line.reason for line in data.quality}
    assert {"duplicate_vin", "odometer_decrease", "other_programme"} <= reasons

    files = write_report(data, tmp_path / "report")
    book = load_workbook(files.xlsx)
    quality = list(book["Data quality"].iter_rows(min_row=2, values_only=True))
    assert sum(row[2] for row in quality) == data.quarantined
    summary = [row for row in book["Summary"].iter_rows(values_only=True) if row[0] == 2025]
    assert summary[0][6] == total.issued_t
    text = "\n".join(page.extract_text() for page in PdfReader(files.pdf).pages)
    assert "sim-4" in text and ingest.input_hash in text and "duplicate_vin" in text
