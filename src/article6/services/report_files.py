"""Writing reports to files: the AEF as XLSX, CSV or JSON; tables of regular
information as XLSX and JSON; the balance chart as PNG.

The workbook has one sheet per AEF table, named as the format names them,
with the exact column labels in the first row. Cells keep their type: whole
numbers stay numbers, dates are already `dd/mm/yyyy` text, `NA` and blank
platform columns are written as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from openpyxl import Workbook
from openpyxl.styles import Font

from article6.domain.aef import LABELS, SHEETS, AefReport, Row

FORMATS = ("xlsx", "csv", "json")


def write_aef(report: AefReport, out: Path, file_format: str = "xlsx") -> list[Path]:
    """Write the report; CSV gives one file per table beside `out` (`<stem>_table1.csv` ...)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "xlsx":
        _workbook([(SHEETS[key], LABELS[key], rows) for key, rows in report.tables().items()], out)
        return [out]
    if file_format == "json":
        out.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return [out]
    if file_format == "csv":
        paths = []
        for key, rows in report.tables().items():
            path = out.with_name(f"{out.stem}_{key}.csv")
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(LABELS[key]))
                writer.writeheader()
                writer.writerows(rows)
            paths.append(path)
        return paths
    raise ValueError(f"format {file_format!r} is not one of {', '.join(FORMATS)}")


def _workbook(sheets: Sequence[tuple[str, Sequence[str], Sequence[Row]]], out: Path) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for title, labels, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append(list(labels))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([row.get(label, "") for label in labels])
        for index, label in enumerate(labels, start=1):
            width = max([len(str(label)), *(len(str(r.get(label, ""))) for r in rows)])
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(width + 2, 60)
        sheet.freeze_panes = "A2"
    workbook.save(out)


def write_regular_information(info: dict[str, Any], out_xlsx: Path, out_json: Path) -> list[Path]:
    """The regular-information tables (annual and cumulative figures) as XLSX and JSON."""
    out_xlsx.parent.mkdir(parents=True, exist_ok=True)
    sheets = []
    for name, rows in info["tables"].items():
        labels = list(rows[0]) if rows else ["year"]
        sheets.append((name, labels, rows))
    _workbook(sheets, out_xlsx)
    out_json.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n")
    return [out_xlsx, out_json]


def write_balance_chart(info: dict[str, Any], out: Path) -> Path:
    """The emissions balance against the indicative trajectory and the target, in Mt."""
    rows = info["tables"]["Emissions balance"]
    years = [r["Year"] for r in rows]
    mt = 1_000_000

    def series(label: str) -> list[float | None]:
        return [None if r[label] is None else r[label] / mt for r in rows]

    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    trajectory = series("Indicative trajectory (t CO2 eq)")
    if any(v is not None for v in trajectory):
        top.plot(years, trajectory, "--", color="grey", label="Indicative trajectory")
    top.axhline(info["target_t"] / mt, color="firebrick", lw=1, label="NDC target")
    balance = series("Emissions balance (t CO2 eq)")
    emissions = series("Emissions (t CO2 eq)")
    top.plot(years, emissions, "o", color="steelblue", label="Inventory emissions")
    top.plot(years, balance, "s-", color="darkgreen", label="Emissions balance")
    top.set_ylabel("Mt CO2 eq")
    top.set_title(f"{info['party']}: emissions balance, {info['method']} method")
    top.legend(loc="best", fontsize=8)
    kt = 1_000
    first = [r["First transfers (t CO2 eq)"] / kt for r in rows]
    used = [-r["Uses (t CO2 eq)"] / kt for r in rows]
    bottom.bar(years, first, color="darkorange", label="+ first transfers")
    bottom.bar(years, used, color="purple", label="- uses")
    bottom.axhline(0, color="black", lw=0.6)
    bottom.set_ylabel("kt CO2 eq")
    bottom.set_xlabel("Year")
    bottom.legend(loc="best", fontsize=8)
    figure.subplots_adjust(left=0.09, right=0.97, top=0.94, bottom=0.08, hspace=0.08)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
