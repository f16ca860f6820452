"""Format and vocabulary checks of the AEF tables.

The first group of pre-submission checks: identifiers (approach, Party,
registry, ITMO unique identifier), dates `dd/mm/yyyy`, enumerations (action
types, subtypes valid for their type, metrics, mitigation types, purposes,
sectors), whole positive quantities, `NA` in the conditional columns that do
not apply and a value in those that do, and blank platform columns. The
other groups, which compare rows with each other and with the balance, are
in `aef_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from article6.domain.aef import (
    ACTION_SUBTYPES,
    FIRST_TRANSFER_DEFINITIONS,
    LABELS,
    METRICS,
    MITIGATION_TYPES,
    NA,
    PLATFORM_COLUMNS,
    PURPOSE_TEXTS,
    SECTORS,
    TERMINAL_TYPES,
    AefReport,
    Row,
    parse_aef_date,
)

PARTY = re.compile(r"^[A-Z]{3}$")
REGISTRY = re.compile(r"^[A-Z]{3}\d{2}$")
APPROACH = re.compile(r"^CA\d{4}$")
ITMO = re.compile(r"^(CA\d{4})-([A-Z]{3}\d{2})-([A-Z]{3})-(\d+)-(\d{4})$")
VERSION = re.compile(r"^\d+\.\d+$")
TIMEFRAME = re.compile(
    r"^Occurred: from (\d\d/\d\d/\d{4}) to (\d\d/\d\d/\d{4}); "
    r"Use: from (\d\d/\d\d/\d{4}) to (\d\d/\d\d/\d{4})$"
)
OUTGOING = {"First transfer to another Party"}


@dataclass(frozen=True)
class CheckFailure:
    table: str
    row: int  # 1-based data row; 0 for a failure of the table as a whole
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "rule": self.rule, "message": self.message}


Failures = list[CheckFailure]


def fail(table: str, row: int, rule: str, message: str) -> CheckFailure:
    return CheckFailure(table, row, rule, message)


def check_format(report: AefReport) -> Failures:
    """Format and vocabulary of every table of one report."""
    out: Failures = []
    for key, rows in report.tables().items():
        for number, row in enumerate(rows, start=1):
            missing = [label for label in LABELS[key] if label not in row]
            if missing:
                out.append(fail(key, number, "format.columns", f"missing columns {missing}"))
                continue
            for label in PLATFORM_COLUMNS[key]:
                if row[label] != "":
                    out.append(
                        fail(key, number, "format.platform_blank", f"{label} is platform-filled")
                    )
    out += _format_table1(report.table1)
    out += _format_table2(report.table2)
    for number, row in enumerate(report.table3, start=1):
        out += _format_action(row, number)
    for number, row in enumerate(report.table4, start=1):
        out += _format_block("table4", row, number)
    for number, row in enumerate(report.table5, start=1):
        if parse_aef_date(row.get("Date of the authorization", "")) is None:
            out.append(fail("table5", number, "format.date", "Date of the authorization"))
        if not PARTY.fullmatch(str(row.get("Country of incorporation", ""))):
            out.append(fail("table5", number, "format.identifier", "Country of incorporation"))
    return out


def _format_table1(rows: Sequence[Row]) -> Failures:
    out: Failures = []
    if len(rows) != 1:
        out.append(fail("table1", 0, "format.rows", f"{len(rows)} rows, expected exactly 1"))
    for number, row in enumerate(rows, start=1):
        if not PARTY.fullmatch(str(row.get("Party"))):
            out.append(fail("table1", number, "format.identifier", "Party"))
        if not VERSION.fullmatch(str(row.get("Version"))):
            out.append(fail("table1", number, "format.version", "Version must be X.Y"))
        if parse_aef_date(row.get("Date of submission", "")) is None:
            out.append(fail("table1", number, "format.date", "Date of submission"))
    return out


def _format_table2(rows: Sequence[Row]) -> Failures:
    out: Failures = []
    for n, row in enumerate(rows, start=1):
        if parse_aef_date(row.get("Date of authorization", "")) is None:
            out.append(fail("table2", n, "format.date", "Date of authorization"))
        if not APPROACH.fullmatch(str(row.get("Cooperative approach ID"))):
            out.append(fail("table2", n, "format.identifier", "Cooperative approach ID"))
        if row.get("Metric") not in METRICS:
            out.append(fail("table2", n, "format.vocabulary", f"Metric {row.get('Metric')!r}"))
        purposes = row.get("Purposes for authorization")
        if purposes not in PURPOSE_TEXTS:
            out.append(fail("table2", n, "format.vocabulary", f"Purposes {purposes!r}"))
        for sector in str(row.get("Sector(s)", "")).split(", "):
            if sector not in SECTORS:
                out.append(fail("table2", n, "format.vocabulary", f"Sector {sector!r}"))
        if TIMEFRAME.fullmatch(str(row.get("Authorized timeframe"))) is None:
            out.append(fail("table2", n, "format.timeframe", "Authorized timeframe"))
        oimp = "OIMP" in str(purposes)
        definition = row.get("First transfer definition for OIMP")
        if oimp and definition not in FIRST_TRANSFER_DEFINITIONS:
            out.append(fail("table2", n, "format.vocabulary", "First transfer definition"))
        if not oimp and (definition != NA or row.get("OIMP authorized by the Party") != NA):
            out.append(fail("table2", n, "format.not_applicable", "OIMP columns must be NA"))
        quantity = row.get("Authorized quantity")
        if not isinstance(quantity, int) or quantity <= 0:
            out.append(fail("table2", n, "format.quantity", "Authorized quantity"))
    return out


def _format_block(table: str, row: Row, n: int) -> Failures:
    out: Failures = []
    if not APPROACH.fullmatch(str(row.get("Cooperative approach ID"))):
        out.append(fail(table, n, "format.identifier", "Cooperative approach ID"))
    if not PARTY.fullmatch(str(row.get("First transferring participating Party ID"))):
        out.append(fail(table, n, "format.identifier", "First transferring Party ID"))
    if not REGISTRY.fullmatch(str(row.get("Party ITMO registry ID"))):
        out.append(fail(table, n, "format.identifier", "Party ITMO registry ID"))
    for label in ("First ID", "Last ID"):
        if ITMO.fullmatch(str(row.get(label))) is None:
            out.append(fail(table, n, "format.identifier", f"{label} {row.get(label)!r}"))
    if row.get("Metric") not in METRICS:
        out.append(fail(table, n, "format.vocabulary", f"Metric {row.get('Metric')!r}"))
    if row.get("Mitigation type") not in MITIGATION_TYPES:
        out.append(fail(table, n, "format.vocabulary", "Mitigation type"))
    ghg = row.get("Metric") == "GHG"
    own, other = (
        ("Quantity (t CO2 eq)", "Quantity (in non-GHG metric)")
        if ghg
        else ("Quantity (in non-GHG metric)", "Quantity (t CO2 eq)")
    )
    if not isinstance(row.get(own), int) or int(row[own]) <= 0:
        out.append(fail(table, n, "format.quantity", f"{own} must be a positive whole number"))
    if row.get(other) != NA or (ghg and row.get("Applicable non-GHG metric") != NA):
        out.append(fail(table, n, "format.not_applicable", f"{other} must be NA"))
    return out


def _format_action(row: Row, n: int) -> Failures:
    out = _format_block("table3", row, n)
    if parse_aef_date(row.get("Action date", "")) is None:
        out.append(fail("table3", n, "format.date", f"Action date {row.get('Action date')!r}"))
    kind, subtype = str(row.get("Action type")), row.get("Action subtype")
    if kind not in ACTION_SUBTYPES:
        out.append(fail("table3", n, "format.vocabulary", f"Action type {kind!r}"))
        return out
    if subtype not in ACTION_SUBTYPES[kind]:
        out.append(fail("table3", n, "format.subtype", f"{subtype!r} is not a {kind} subtype"))
    conditional = {
        "Transferring participating Party ID": kind == "Acquisition",
        "Acquiring participating Party ID": subtype in OUTGOING or kind == "Transfer",
        "Using/cancelling participating Party ID": kind in TERMINAL_TYPES,
        "Purpose for which the ITMO has been used towards or cancelled for OIMP": kind == "Use",
        "Calendar year for which the ITMOs are used towards the Party's NDC": (
            kind == "Use"
            and row.get("Purpose for which the ITMO has been used towards or cancelled for OIMP")
            == "NDC"
        ),
    }
    for label, applies in conditional.items():
        value = row.get(label)
        if not applies and value != NA:
            out.append(fail("table3", n, "format.not_applicable", f"{label} must be NA"))
        if applies and (value == NA or value == ""):
            out.append(fail("table3", n, "format.not_applicable", f"{label} is required"))
    return out
