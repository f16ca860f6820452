"""Inventory emissions per year, validated row by row.

A Party's greenhouse gas inventory gives `E_t`, the emissions its NDC covers.
It arrives as a table (CSV or a spreadsheet) with one row per year: the year
and the emissions, in tonnes (`emissions_tco2e`) or megatonnes
(`emissions_mtco2e`), and optionally where the figure comes from. Every
problem is reported with the file, row and column it was found in, and a file
with any problem is refused whole, so a half-imported inventory never feeds a
balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_ROWS = 1000
YEAR_RANGE = range(1990, 2101)
TONNE_COLUMNS = {"emissions_tco2e": Decimal(1), "emissions_mtco2e": Decimal(1_000_000)}


@dataclass(frozen=True)
class InventoryRecord:
    year: int
    emissions_t: int
    source: str
    file: str
    row: int


@dataclass(frozen=True)
class InventoryIssue:
    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, column {self.column}: {self.message}"


class InventoryRejected(ValueError):
    """The file had problems; `issues` names each one."""

    def __init__(self, issues: list[InventoryIssue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


def validate_inventory(
    file: str, header: Iterable[str], rows: Iterable[tuple[int, Mapping[str, object]]]
) -> list[InventoryRecord]:
    """Records from parsed rows `(row number, {column: cell})`, or InventoryRejected."""
    columns = [str(c).strip() for c in header]
    issues: list[InventoryIssue] = []
    unit_columns = [c for c in columns if c in TONNE_COLUMNS]
    if "year" not in columns:
        issues.append(InventoryIssue(file, 1, "year", "the header has no 'year' column"))
    if len(unit_columns) != 1:
        issues.append(
            InventoryIssue(
                file,
                1,
                "emissions_tco2e",
                "the header needs exactly one of emissions_tco2e or emissions_mtco2e",
            )
        )
    if issues:
        raise InventoryRejected(issues)
    unit = unit_columns[0]
    records: list[InventoryRecord] = []
    seen: dict[int, int] = {}
    for count, (row_number, cells) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            issues.append(InventoryIssue(file, row_number, "year", f"more than {MAX_ROWS} rows"))
            break
        year = _year(file, row_number, cells.get("year"), issues)
        emissions = _tonnes(file, row_number, unit, cells.get(unit), issues)
        if year is None or emissions is None:
            continue
        if year in seen:
            issues.append(
                InventoryIssue(
                    file, row_number, "year", f"year {year} is already given in row {seen[year]}"
                )
            )
            continue
        seen[year] = row_number
        source = str(cells.get("source") or "").strip()
        records.append(InventoryRecord(year, emissions, source, file, row_number))
    if issues:
        raise InventoryRejected(issues)
    if not records:
        raise InventoryRejected([InventoryIssue(file, 2, "year", "the file has no data rows")])
    return sorted(records, key=lambda r: r.year)


def _year(file: str, row: int, cell: object, issues: list[InventoryIssue]) -> int | None:
    text = "" if cell is None else str(cell).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit() or int(text) not in YEAR_RANGE:
        issues.append(
            InventoryIssue(file, row, "year", f"{cell!r} is not a year between 1990 and 2100")
        )
        return None
    return int(text)


def _tonnes(
    file: str, row: int, column: str, cell: object, issues: list[InventoryIssue]
) -> int | None:
    """Whole tonnes; a megatonne figure must convert to whole tonnes exactly."""
    text = "" if cell is None else str(cell).strip().replace(",", "").replace("_", "")
    try:
        value = Decimal(text) * TONNE_COLUMNS[column]
    except InvalidOperation:
        issues.append(InventoryIssue(file, row, column, f"{cell!r} is not a number"))
        return None
    if not value.is_finite() or value < 0:
        issues.append(InventoryIssue(file, row, column, f"{cell!r} must be zero or more"))
        return None
    if value != value.to_integral_value():
        issues.append(
            InventoryIssue(file, row, column, f"{cell!r} is not a whole number of tonnes")
        )
        return None
    return int(value)
