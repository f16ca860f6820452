"""Monitoring report of a calculation run, as a PDF and an XLSX workbook.

A verifier reads the PDF and recomputes from the workbook. Both show the same
figures from one `ReportData`: which run (input hash, parameter-set hash, code
version), the parameters with their sources, what the quality rules rejected
(quarantine counts by reason code) and flagged, results per fleet segment and
per vehicle, and monthly series of distance, station energy and reductions.
The workbook holds every vehicle; the PDF lists the largest contributors and
points to the workbook for the rest, so a 200,000-vehicle report stays
readable. The XLSX is written in streaming mode so its size is bounded only by
disk.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import (
    Flowable,
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from article6.mrv.charts import monthly_bar_chart_png

PDF_VEHICLE_ROWS = 60


@dataclass(frozen=True)
class ParameterLine:
    name: str
    value: str
    unit: str
    source: str


@dataclass(frozen=True)
class QualityLine:
    """Rows of one record type quarantined (or results flagged) under one reason code."""

    record_type: str
    reason: str
    count: int


@dataclass(frozen=True)
class SegmentLine:
    segment: str
    vintage: int
    vehicles: int
    distance_km: float
    energy_kwh: float
    be_t: float
    pe_t: float
    er_t: float


@dataclass(frozen=True)
class VehicleLine:
    vehicle_id: str
    category: str
    segment: str
    vintage: int
    distance_km: float
    imputed_share: float
    be_t: float
    pe_t: float
    er_t: float


@dataclass(frozen=True)
class MonthLine:
    month: str  # YYYY-MM, local calendar
    distance_km: float
    energy_kwh: float
    er_t: float


@dataclass(frozen=True)
class VintageTotal:
    vintage: int
    be_t: float
    pe_t: float
    le_t: float
    er_t: float
    cap_excess_t: float
    issued_t: int


@dataclass(frozen=True)
class ReportData:
    """Everything a monitoring report shows, independent of how the run stored it."""

    run_id: str
    project: str
    monitoring_period: str
    input_hash: str
    parameter_set: str
    parameter_set_hash: str
    code_version: str
    placeholder_parameters: bool
    parameters: Sequence[ParameterLine]
    quality: Sequence[QualityLine]
    segments: Sequence[SegmentLine]
    vehicles: Sequence[VehicleLine]
    months: Sequence[MonthLine]
    totals: Sequence[VintageTotal]
    rows_read: int = 0
    rows_accepted: int = 0
    notes: Sequence[str] = field(default_factory=tuple)
    parameter_sources: Sequence[str] = field(default_factory=tuple)

    @property
    def issued_t(self) -> int:
        return sum(total.issued_t for total in self.totals)

    @property
    def quarantined(self) -> int:
        return sum(line.count for line in self.quality)


@dataclass(frozen=True)
class ReportFiles:
    pdf: Path
    xlsx: Path


def write_report(data: ReportData, out_dir: Path) -> ReportFiles:
    """Write `monitoring-report-<run>.pdf` and `.xlsx` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"monitoring-report-{data.run_id}"
    files = ReportFiles(pdf=out_dir / f"{stem}.pdf", xlsx=out_dir / f"{stem}.xlsx")
    write_xlsx(data, files.xlsx)
    write_pdf(data, files.pdf)
    return files


def _summary_rows(data: ReportData) -> list[tuple[str, str]]:
    rows = [
        ("Run", data.run_id),
        ("Project", data.project),
        ("Monitoring period", data.monitoring_period),
        ("Input data hash (SHA-256)", data.input_hash),
        ("Parameter set", data.parameter_set),
        ("Parameter set hash (SHA-256)", data.parameter_set_hash),
        ("Code version", data.code_version),
        ("Rows read / accepted", f"{data.rows_read:,} / {data.rows_accepted:,}"),
        ("Rows quarantined or flagged", f"{data.quarantined:,}"),
        ("Issued (whole tonnes, rounded down)", f"{data.issued_t:,}"),
    ]
    if data.placeholder_parameters:
        rows.append(("Warning", "placeholder parameters: not valid for issuance"))
    return rows


def write_xlsx(data: ReportData, path: Path) -> None:
    """One sheet per section; numbers stay numbers so a verifier can recompute."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    summary.append(["Item", "Value"])
    for label, value in _summary_rows(data):
        summary.append([label, value])
    summary.append([])
    summary.append(["Vintage", "BE t", "PE t", "LE t", "ER t", "Cap excess t", "Issued t"])
    for total in data.totals:
        summary.append(
            [
                total.vintage,
                total.be_t,
                total.pe_t,
                total.le_t,
                total.er_t,
                total.cap_excess_t,
                total.issued_t,
            ]
        )
    summary.column_dimensions["A"].width = 36
    summary.column_dimensions["B"].width = 70

    sheet = book.create_sheet("Parameters")
    sheet.append(["Parameter", "Value", "Unit", "Source"])
    for line in data.parameters:
        sheet.append([line.name, line.value, line.unit, line.source])
    if data.parameter_sources:
        sheet.append([])
        sheet.append(["Sources of the parameter set"])
        for source in data.parameter_sources:
            sheet.append([source])

    sheet = book.create_sheet("Data quality")
    sheet.append(["Record type", "Reason code", "Rows"])
    for quality in data.quality:
        sheet.append([quality.record_type, quality.reason, quality.count])

    sheet = book.create_sheet("Segments")
    sheet.append(
        ["Segment", "Vintage", "Vehicles", "Distance km", "Energy kWh", "BE t", "PE t", "ER t"]
    )
    for seg in data.segments:
        sheet.append(
            [
                seg.segment,
                seg.vintage,
                seg.vehicles,
                seg.distance_km,
                seg.energy_kwh,
                seg.be_t,
                seg.pe_t,
                seg.er_t,
            ]
        )

    sheet = book.create_sheet("Vehicles")
    sheet.append(
        [
            *("Vehicle", "Category", "Segment", "Vintage", "Distance km", "Imputed share"),
            *("BE t", "PE t", "ER t"),
        ]
    )
    for vehicle in data.vehicles:
        sheet.append(
            [
                vehicle.vehicle_id,
                vehicle.category,
                vehicle.segment,
                vehicle.vintage,
                vehicle.distance_km,
                vehicle.imputed_share,
                vehicle.be_t,
                vehicle.pe_t,
                vehicle.er_t,
            ]
        )

    sheet = book.create_sheet("Monthly")
    sheet.append(["Month", "Distance km", "Energy kWh", "ER t"])
    for month in data.months:
        sheet.append([month.month, month.distance_km, month.energy_kwh, month.er_t])
    if data.months:
        rows = len(data.months) + 1
        for column, title, anchor in ((2, "Distance km", "F2"), (3, "Energy kWh", "F18")):
            chart = BarChart()
            chart.title = title
            chart.add_data(
                Reference(sheet, min_col=column, min_row=1, max_row=rows), titles_from_data=True
            )
            chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=rows))
            sheet.add_chart(chart, anchor)
        chart = BarChart()
        chart.title = "Emission reductions t"
        chart.add_data(Reference(sheet, min_col=4, min_row=1, max_row=rows), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=rows))
        sheet.add_chart(chart, "F34")
    book.save(path)


def _table(rows: Sequence[list[Any]], widths: list[float] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6ee")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _number(value: float, decimals: int = 1) -> str:
    return f"{value:,.{decimals}f}"


def write_pdf(data: ReportData, path: Path) -> None:
    """The readable report: summary, parameters, quality, results, charts, top vehicles."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7.5, leading=9)
    story: list[Flowable] = [
        Paragraph(f"Monitoring report: {data.project}", styles["Title"]),
        Paragraph(f"Calculation run {data.run_id}, {data.monitoring_period}", styles["Normal"]),
        Spacer(1, 0.4 * cm),
        _table([["Item", "Value"]] + [[a, b] for a, b in _summary_rows(data)], [5 * cm, 12 * cm]),
        Spacer(1, 0.4 * cm),
        Paragraph("Emission reductions per vintage", styles["Heading2"]),
        _table(
            [["Vintage", "BE t", "PE t", "LE t", "ER t", "Cap excess t", "Issued t"]]
            + [
                [
                    str(t.vintage),
                    _number(t.be_t, 3),
                    _number(t.pe_t, 3),
                    _number(t.le_t, 3),
                    _number(t.er_t, 3),
                    _number(t.cap_excess_t, 3),
                    f"{t.issued_t:,}",
                ]
                for t in data.totals
            ]
        ),
    ]
    for note in data.notes:
        story.append(Paragraph(note, styles["Italic"]))
    story += [
        Paragraph("Parameters", styles["Heading2"]),
        _table(
            [["Parameter", "Value", "Unit", "Source"]]
            + [[p.name, p.value, p.unit, Paragraph(p.source, small)] for p in data.parameters],
            [5 * cm, 3 * cm, 2.5 * cm, 6.5 * cm],
        ),
    ]
    if data.parameter_sources:
        story.append(Paragraph("Sources of the parameter set:", small))
        story += [Paragraph(f"- {source}", small) for source in data.parameter_sources]
    story += [
        Paragraph("Data quality: quarantined rows and flags by reason code", styles["Heading2"]),
        _table(
            [["Record type", "Reason code", "Rows"]]
            + [[q.record_type, q.reason, f"{q.count:,}"] for q in data.quality]
            if data.quality
            else [["Record type", "Reason code", "Rows"], ["(none)", "", "0"]]
        ),
        Paragraph("Results per fleet segment", styles["Heading2"]),
        _table(
            [
                [
                    "Segment",
                    "Vintage",
                    "Vehicles",
                    "Distance km",
                    "Energy kWh",
                    "BE t",
                    "PE t",
                    "ER t",
                ]
            ]
            + [
                [
                    s.segment,
                    str(s.vintage),
                    f"{s.vehicles:,}",
                    _number(s.distance_km),
                    _number(s.energy_kwh),
                    _number(s.be_t, 3),
                    _number(s.pe_t, 3),
                    _number(s.er_t, 3),
                ]
                for s in data.segments
            ]
        ),
        PageBreak(),
        Paragraph("Monthly series", styles["Heading2"]),
    ]
    months = [m.month for m in data.months]
    for values, title, unit, colour in (
        ([m.distance_km for m in data.months], "Valid distance per month", "km", "#3b6ea5"),
        ([m.energy_kwh for m in data.months], "Station energy per month", "kWh", "#c27c0e"),
        ([m.er_t for m in data.months], "Emission reductions per month", "tCO2e", "#3a8a4f"),
    ):
        png = monthly_bar_chart_png(months, values, title, unit, colour)
        story.append(Image(io.BytesIO(png), width=16 * cm, height=16 * cm * 2.6 / 7.0))
    ranked = sorted(data.vehicles, key=lambda v: v.er_t, reverse=True)[:PDF_VEHICLE_ROWS]
    story += [
        Paragraph("Vehicles with the largest reductions", styles["Heading2"]),
        Paragraph(
            f"{len(ranked)} of {len(data.vehicles):,} vehicles; the workbook lists every vehicle.",
            styles["Normal"],
        ),
        _table(
            [["Vehicle", "Category", "Segment", "Vintage", "Distance km", "Imputed", "ER t"]]
            + [
                [
                    v.vehicle_id,
                    v.category,
                    v.segment,
                    str(v.vintage),
                    _number(v.distance_km),
                    f"{v.imputed_share:.1%}",
                    _number(v.er_t, 4),
                ]
                for v in ranked
            ]
        ),
    ]
    document = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        title=f"Monitoring report {data.run_id}",
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
    )
    document.build(story)
