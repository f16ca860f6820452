"""Finance reports: a workbook for the fund manager and two charts.

The workbook holds the agreement's summary, the recovery ledger per vintage,
every delivery and disbursement, the cash flows behind NPV and IRR, the
delivery risk and the portfolio, with amounts as numbers (not text) so they
can be summed in a spreadsheet. The charts are the two pictures a fund
manager compares: cumulative deliveries (plan, actual and the P10/P50/P90
curves of the Monte Carlo) and recovery over time (money disbursed and
recovered, actual and projected, against the recovery target). Charts are
PNG files drawn with matplotlib's Agg backend, so they need no display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
from openpyxl import Workbook
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from article6.services.finance_risk import DeliveryRisk
from article6.services.finance_status import AgreementReport, PortfolioReport

CHART_DPI = 120
THOUSANDS = FuncFormatter(lambda value, _position: f"{value:,.0f}")


@dataclass(frozen=True)
class FinanceFiles:
    workbook: Path
    charts: list[Path]


def _number(value: Decimal) -> int | float:
    """A spreadsheet number: whole amounts as int, others as float (display only)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _png(figure: Any) -> bytes:
    try:
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def delivery_curves_png(report: AgreementReport, risk: DeliveryRisk | None) -> bytes:
    """Cumulative tonnes delivered to the financier: plan, actual, P10/P50/P90."""
    figure, axes = plt.subplots(figsize=(7.5, 4.0), dpi=CHART_DPI)
    vintages = [r.vintage for r in report.ledger]
    axes.plot(
        vintages,
        [r.cumulative_expected_t for r in report.ledger],
        "k--",
        label="Planned deliveries",
    )
    due = [r for r in report.ledger if r.state != "pending"]
    if due:
        axes.plot(
            [r.vintage for r in due],
            [r.cumulative_delivered_t for r in due],
            "o-",
            color="tab:green",
            label="Delivered",
        )
    if risk is not None:
        axes.fill_between(
            risk.vintages,
            risk.delivery_curves_t["P10"],
            risk.delivery_curves_t["P90"],
            color="tab:blue",
            alpha=0.2,
            label="P10–P90 (Monte Carlo)",
        )
        axes.plot(risk.vintages, risk.delivery_curves_t["P50"], color="tab:blue", label="P50")
    target = report.agreement.terms.tranche_t
    if target is not None:
        axes.axhline(target, color="tab:red", linewidth=0.8, label=f"Tranche {target:,} t")
    axes.set_title(f"Deliveries to the financier, {report.agreement.agreement_id}", fontsize=10)
    axes.set_xlabel("Vintage", fontsize=8)
    axes.set_ylabel("Cumulative tCO2e", fontsize=8)
    axes.yaxis.set_major_formatter(THOUSANDS)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left")
    return _png(figure)


def recovery_png(report: AgreementReport) -> bytes:
    """Money out and money back over time, actual solid and projected dashed."""
    figure, axes = plt.subplots(figsize=(7.5, 4.0), dpi=CHART_DPI)
    currency = report.agreement.currency
    series: dict[str, list[tuple[Any, float]]] = {
        "disbursed": [],
        "recovered": [],
        "projected": [],
    }
    paid = back = Decimal(0)
    for flow in report.cash_flows:
        if flow.kind in ("disbursement", "scheduled_disbursement"):
            paid -= flow.amount.amount
            series["disbursed"].append((flow.flow_date, float(paid)))
        else:
            back += flow.amount.amount
            name = "recovered" if flow.kind == "recovery" else "projected"
            series[name].append((flow.flow_date, float(back)))
    if series["recovered"] and series["projected"]:
        series["projected"].insert(0, series["recovered"][-1])
    if report.cash_flows:
        last = max(f.flow_date for f in report.cash_flows)
        for name in ("disbursed", "recovered"):
            points = series[name]
            if (
                points
                and points[-1][0] < last
                and not (name == "recovered" and series["projected"])
            ):
                points.append((last, points[-1][1]))
        if series["recovered"]:
            series["recovered"].insert(0, (series["recovered"][0][0], 0.0))
    styles = {
        "disbursed": ("tab:orange", "-", "Disbursed (cumulative, incl. scheduled)"),
        "recovered": ("tab:green", "-", "Recovered in credits"),
        "projected": ("tab:green", "--", "Recovery projected"),
    }
    for name, points in series.items():
        if points:
            colour, line, label = styles[name]
            axes.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="post",
                color=colour,
                linestyle=line,
                label=label,
            )
    axes.axhline(
        float(report.recovery_target.amount),
        color="tab:red",
        linewidth=0.8,
        label="Recovery target",
    )
    axes.set_title(f"Recovery over time, {report.agreement.agreement_id}", fontsize=10)
    axes.set_ylabel(currency, fontsize=8)
    axes.yaxis.set_major_formatter(THOUSANDS)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    return _png(figure)


def _sheet(workbook: Workbook, title: str, header: Sequence[str]) -> Worksheet:
    sheet: Worksheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index in range(len(header)):
        sheet.column_dimensions[chr(ord("A") + index)].width = 18
    return sheet


def write_workbook(
    path: Path,
    report: AgreementReport,
    risk: DeliveryRisk | None = None,
    portfolio: PortfolioReport | None = None,
    charts: Sequence[tuple[str, bytes]] = (),
) -> Path:
    a = report.agreement
    workbook = Workbook()
    summary: Worksheet = workbook.worksheets[0]
    summary.title = "Summary"
    summary.column_dimensions["A"].width = 36
    summary.column_dimensions["B"].width = 60
    for line in report.lines()[:7]:
        summary.append([line.strip()])
    summary.append([])
    facts: list[tuple[str, Any]] = [
        ("Agreement", f"{a.agreement_id} v{a.version} ({report.versions} versions)"),
        ("As of", report.as_of.isoformat()),
        ("Status", report.status.value),
        ("Currency", a.currency),
        ("Committed", _number(a.committed.amount)),
        ("Disbursed", _number(report.disbursed.amount)),
        ("Recovery target", _number(report.recovery_target.amount)),
        ("Recovered", _number(report.recovered.amount)),
        ("Outstanding balance", _number(report.outstanding_balance.amount)),
        ("Delivered (t)", report.delivered_t),
        ("Still due (t)", report.remaining_t),
        ("Projected completion year", report.completion_year or "beyond crediting period"),
        ("NPV", "" if report.npv is None else _number(report.npv.amount)),
        ("IRR", "" if report.irr is None else float(report.irr)),
        ("Early warning", "" if report.warning is None else report.warning.message),
    ]
    for fact in facts:
        summary.append(list(fact))
    ledger = _sheet(
        workbook,
        "Recovery ledger",
        [
            "Vintage",
            "Expected t",
            "Delivered t",
            "Shortfall t",
            f"Value recovered ({a.currency})",
            "Cumulative delivered t",
            f"Cumulative recovered ({a.currency})",
            f"Outstanding ({a.currency})",
            "State",
        ],
    )
    for r in report.ledger:
        ledger.append(
            [
                r.vintage,
                r.expected_t,
                r.delivered_t,
                r.shortfall_t,
                _number(r.value_recovered.amount),
                r.cumulative_delivered_t,
                _number(r.cumulative_recovered.amount),
                _number(r.outstanding_balance.amount),
                r.state,
            ]
        )
    deliveries = _sheet(
        workbook,
        "Deliveries",
        ["Date", "Vintage", "Quantity t", "Price", "Rate", f"Value ({a.currency})", "Reference"],
    )
    for e in report.entries:
        deliveries.append(
            [
                e.delivery_date,
                e.vintage,
                e.quantity_t,
                str(e.price_per_t),
                "" if e.rate is None else float(e.rate),
                _number(e.value.amount),
                e.reference,
            ]
        )
    paid = _sheet(workbook, "Disbursements", ["Date", "Id", f"Amount ({a.currency})", "Note"])
    for d in report.disbursements:
        paid.append([d.disbursement_date, d.disbursement_id, _number(d.amount.amount), d.note])
    flows = _sheet(workbook, "Cash flows", ["Date", "Kind", f"Amount ({a.currency})", "Label"])
    for f in report.cash_flows:
        flows.append([f.flow_date, f.kind, _number(f.amount.amount), f.label])
    if risk is not None:
        sheet = _sheet(
            workbook,
            "Delivery risk",
            ["Vintage", "Planned cumulative t", "P10 t", "P50 t", "P90 t", "Central issuance t"],
        )
        for row in risk.to_dict()["vintages"]:
            sheet.append(
                [
                    row["vintage"],
                    row["planned_cumulative_t"],
                    row["p10_cumulative_t"],
                    row["p50_cumulative_t"],
                    row["p90_cumulative_t"],
                    row["central_issuance_t"],
                ]
            )
        sheet.append([])
        for line in risk.lines():
            sheet.append([line.strip()])
    if portfolio is not None:
        sheet = _sheet(
            workbook,
            "Portfolio",
            [
                "Dimension",
                "Key",
                "Agreements",
                "Contracted t",
                "Delivered t",
                "Pipeline t",
                f"Committed ({portfolio.currency})",
                f"Disbursed ({portfolio.currency})",
                f"Recovered ({portfolio.currency})",
                f"Outstanding ({portfolio.currency})",
                "Behind plan",
            ],
        )
        for total_row in portfolio.totals:
            sheet.append(
                [
                    total_row.dimension,
                    total_row.key,
                    total_row.agreements,
                    total_row.contracted_t,
                    total_row.delivered_t,
                    total_row.pipeline_t,
                    _number(total_row.committed.amount),
                    _number(total_row.disbursed.amount),
                    _number(total_row.recovered.amount),
                    _number(total_row.outstanding.amount),
                    total_row.behind_plan,
                ]
            )
    if charts:
        sheet = workbook.create_sheet("Charts")
        row = 1
        for _name, png in charts:
            image = SheetImage(io.BytesIO(png))
            sheet.add_image(image, f"A{row}")
            row += 25
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_finance_reports(
    out_dir: Path,
    report: AgreementReport,
    risk: DeliveryRisk | None = None,
    portfolio: PortfolioReport | None = None,
) -> FinanceFiles:
    """The workbook and both charts (PNG) for one agreement, in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report.agreement.agreement_id
    charts = [
        (f"{stem}-deliveries.png", delivery_curves_png(report, risk)),
        (f"{stem}-recovery.png", recovery_png(report)),
    ]
    paths = []
    for name, png in charts:
        target = out_dir / name
        target.write_bytes(png)
        paths.append(target)
    workbook = write_workbook(out_dir / f"{stem}-finance.xlsx", report, risk, portfolio, charts)
    return FinanceFiles(workbook, paths)
