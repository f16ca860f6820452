"""Monitoring report: the PDF and the workbook carry the run's key figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from article6.mrv.report import (
    MonthLine,
    ParameterLine,
    QualityLine,
    ReportData,
    SegmentLine,
    VehicleLine,
    VintageTotal,
    write_report,
)


def _data(vehicles: int = 80, placeholder: bool = False) -> ReportData:
    vehicle_lines = [
        VehicleLine(
            vehicle_id=f"V{i:07d}",
            category="e_motorcycle" if i % 3 else "e_scooter",
            segment="swap" if i % 2 else "fixed",
            vintage=2025,
            distance_km=1000.0 + i,
            imputed_share=0.01 * (i % 5),
            be_t=0.05 + i * 0.001,
            pe_t=0.04,
            er_t=0.01 + i * 0.001,
        )
        for i in range(vehicles)
    ]
    return ReportData(
        run_id="run-0042",
        project="Korea-Cambodia e-motorcycles",
        monitoring_period="2025-01-01 to 2025-12-31",
        input_hash="a" * 64,
        parameter_set="khm-emoto v1",
        parameter_set_hash="b" * 64,
        code_version="0.1.0",
        placeholder_parameters=placeholder,
        parameters=[
            ParameterLine("Grid emission factor 2025", "0.60", "tCO2/MWh", "TOOL07 ex-ante CM"),
            ParameterLine("SFC e_motorcycle", "2.2", "L/100 km", "AMS-III.C default"),
        ],
        quality=[
            QualityLine("odometer_readings", "odometer_decrease", 17),
            QualityLine("vehicles", "duplicate_vin", 3),
        ],
        segments=[
            SegmentLine("swap", 2025, 40, 41_000.0, 2050.0, 2.1, 1.6, 0.5),
            SegmentLine("fixed", 2025, 40, 40_000.0, 1800.0, 1.7, 1.4, 0.3),
        ],
        vehicles=vehicle_lines,
        months=[MonthLine(f"2025-{m:02d}", 6800.0 + m, 320.0 + m, 0.07) for m in range(1, 13)],
        totals=[VintageTotal(2025, 1234.5678, 1000.25, 0.0, 234.3178, 0.0, 234)],
        rows_read=123_456,
        rows_accepted=123_436,
        parameter_sources=("CDM AMS-III.C v16.0", "IPCC 2006 Guidelines vol. 2"),
    )


def test_workbook_holds_every_section_and_vehicle(tmp_path: Path) -> None:
    files = write_report(_data(), tmp_path)
    book = load_workbook(files.xlsx)
    assert book.sheetnames == [
        "Summary",
        "Parameters",
        "Data quality",
        "Segments",
        "Vehicles",
        "Monthly",
    ]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["Run"] == "run-0042"
    assert summary["Issued (whole tonnes, rounded down)"] == "234"
    totals = [row for row in book["Summary"].iter_rows(values_only=True) if row[0] == 2025]
    assert totals == [(2025, 1234.5678, 1000.25, 0.0, 234.3178, 0.0, 234)]
    quality = list(book["Data quality"].iter_rows(min_row=2, values_only=True))
    assert ("odometer_readings", "odometer_decrease", 17) in quality
    vehicles = list(book["Vehicles"].iter_rows(min_row=2, values_only=True))
    assert len(vehicles) == 80 and vehicles[5][0] == "V0000005"
    assert vehicles[5][4] == pytest.approx(1005.0)
    monthly = list(book["Monthly"].iter_rows(min_row=2, values_only=True))
    assert monthly[0] == ("2025-01", 6801.0, 321.0, 0.07)
    assert len(book["Monthly"]._charts) == 3
    parameters = list(book["Parameters"].iter_rows(min_row=2, values_only=True))
    assert parameters[0] == ("Grid emission factor 2025", "0.60", "tCO2/MWh", "TOOL07 ex-ante CM")
    assert ("CDM AMS-III.C v16.0", None, None, None) in parameters


def test_pdf_shows_key_figures_and_top_vehicles(tmp_path: Path) -> None:
    files = write_report(_data(vehicles=200), tmp_path)
    reader = PdfReader(files.pdf)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "run-0042" in text
    assert "234.318" in text and "1,234.568" in text
    assert "odometer_decrease" in text and "duplicate_vin" in text
    assert "TOOL07 ex-ante CM" in text and "IPCC 2006 Guidelines vol. 2" in text
    assert "60 of 200 vehicles" in text
    assert "V0000199" in text  # the largest contributor is listed
    assert "V0000000" not in text  # the smallest is only in the workbook
    images = sum(len(page.images) for page in reader.pages)
    assert images == 3


def test_placeholder_parameters_are_called_out(tmp_path: Path) -> None:
    files = write_report(_data(placeholder=True), tmp_path)
    text = "\n".join(page.extract_text() for page in PdfReader(files.pdf).pages)
    assert "placeholder parameters" in text
    clean = write_report(_data(), tmp_path / "clean")
    assert "placeholder parameters" not in "\n".join(
        page.extract_text() for page in PdfReader(clean.pdf).pages
    )
