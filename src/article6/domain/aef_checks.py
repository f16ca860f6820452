"""Consistency checks a Party runs on its AEF tables before it submits them.

The checks read the rendered tables, exactly as the platform would receive
them, and are grouped as domain.md section 8 lists them:

- format and vocabulary (in `aef_format`): identifiers, dates, enumerations, a subtype valid
  for its type, `NA` in conditional columns that do not apply, platform
  columns blank;
- referential integrity: every action's authorization exists with the same
  approach, every entity named is in Table 5;
- block integrity: first <= last, quantity = last - first + 1, no serial held
  twice;
- lifecycle order per serial: authorization before first transfer, first
  transfer exactly once, nothing after a use or cancellation, dates, vintages
  and use years inside the authorized timeframe;
- authorization limits: first transfers within the authorized quantity, the
  acquiring Party and the entity authorized, the purpose allowing the use;
- cross-Party matching: each transfer has the other Party's acquisition with
  the same identifiers, quantity, vintage and approach, and back;
- holdings reconciliation: 31 December holdings = last year's + acquisitions
  + issuance - transfers - uses - cancellations;
- accounting consistency: first transfers and uses per year equal the
  additions and subtractions of the emissions balance.

Reading identifiers back from text happens only here, because the submitted
text is what is being checked (here and in `aef_format`). Each failure names its
table, row and rule.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from article6.domain.aef import NA, TERMINAL_TYPES, AefReport, Row, parse_aef_date
from article6.domain.aef_format import (
    ITMO,
    OUTGOING,
    TIMEFRAME,
    CheckFailure,
    Failures,
    fail,
)
from article6.domain.aef_format import check_format as check_format_tables

__all__ = ["CHECKS", "CheckFailure", "CheckInput", "run_checks"]


@dataclass(frozen=True)
class CheckInput:
    """A report and what it must agree with.

    `earlier_actions` is the Party's Table 3 rows of the years before the
    reported one (the report's own Table 3 completes the history);
    `counterpart_actions` the other Parties' Table 3 rows of the reported year;
    `counterpart_authorizations` their Table 2 rows; `previous_holdings` last
    year's frozen Table 4 (None when none was frozen); `balance_*` the first
    transfers and uses per year of the emissions balance.
    """

    report: AefReport
    earlier_actions: Sequence[Row] = ()
    counterpart_actions: Sequence[Row] = ()
    counterpart_authorizations: Sequence[Row] = ()
    previous_holdings: Sequence[Row] | None = None
    balance_first_transfers: Mapping[int, int] = field(default_factory=dict)
    balance_uses: Mapping[int, int] = field(default_factory=dict)
    attribution: str = "vintage"

    @property
    def history(self) -> list[Row]:
        return [*self.earlier_actions, *self.report.table3]


def run_checks(data: CheckInput) -> Failures:
    failures: Failures = []
    for check in CHECKS:
        failures.extend(check(data))
    return failures


def check_format(data: CheckInput) -> Failures:
    return check_format_tables(data.report)


# --- referential integrity ----------------------------------------------------


def _authorizations(data: CheckInput) -> dict[str, Row]:
    """The latest version of every authorization known, own and counterpart."""
    latest: dict[str, Row] = {}
    for row in [*data.counterpart_authorizations, *data.report.table2]:
        ident = str(row.get("Authorization ID"))
        version = row.get("Version of the authorization")
        known = latest.get(ident)
        if known is None or _int(version) >= _int(known.get("Version of the authorization")):
            latest[ident] = row
    return latest


def check_references(data: CheckInput) -> Failures:
    out: Failures = []
    authorizations = _authorizations(data)
    entity_ids = {str(r.get("Identification number")) for r in data.report.table5}
    for key in ("table3", "table4"):
        for n, row in enumerate(data.report.tables()[key], start=1):
            ident = str(row.get("Authorization ID"))
            found = authorizations.get(ident)
            if found is None:
                out.append(fail(key, n, "reference.authorization", f"{ident} not in Table 2"))
            elif found.get("Cooperative approach ID") != row.get("Cooperative approach ID"):
                out.append(fail(key, n, "reference.approach", f"{ident} is of another approach"))
    for n, row in enumerate(data.report.table3, start=1):
        entity = str(row.get("Using/cancelling authorized entity ID"))
        if entity != NA and entity not in entity_ids and row.get("Action type") != "Acquisition":
            out.append(fail("table3", n, "reference.entity", f"{entity} not in Table 5"))
    for n, row in enumerate(data.report.table2, start=1):
        for entity in _list(row.get("Authorized entity(ies) ID")):
            if entity not in entity_ids:
                out.append(fail("table2", n, "reference.entity", f"{entity} not in Table 5"))
    return out


# --- block integrity ----------------------------------------------------------


def check_blocks(data: CheckInput) -> Failures:
    out: Failures = []
    for key in ("table3", "table4"):
        for n, row in enumerate(data.report.tables()[key], start=1):
            span = _span(row)
            if span is None:
                continue
            space, first, last = span
            if first > last:
                out.append(fail(key, n, "block.order", f"first serial {first} > last {last}"))
            elif row.get("Quantity (t CO2 eq)") not in {NA, last - first + 1} and isinstance(
                row.get("Quantity (t CO2 eq)"), int
            ):
                out.append(fail(key, n, "block.quantity", f"quantity is not {last - first + 1}"))
            if space[3] != str(row.get("Vintage")):
                out.append(fail(key, n, "block.vintage", "Vintage differs from the IDs"))
    held = sorted(
        (span, n) for n, row in enumerate(data.report.table4, start=1) if (span := _span(row))
    )
    for (previous, _), (current, n) in itertools.pairwise(held):
        if previous[0] == current[0] and current[1] <= previous[2]:
            out.append(fail("table4", n, "block.overlap", "serials held twice"))
    return out


# --- lifecycle order ----------------------------------------------------------


def check_lifecycle(data: CheckInput) -> Failures:
    out: Failures = []
    authorizations = _authorizations(data)
    party = data.report.party
    year = data.report.reported_year
    seen: dict[tuple[str, ...], list[tuple[int, int, str]]] = defaultdict(list)
    ordered = sorted(
        ((parse_aef_date(r.get("Action date", "")), i, r) for i, r in enumerate(data.history)),
        key=lambda item: (item[0] or date.min, item[1]),
    )
    current = _numbering(data.report.table3)
    for when, _, row in ordered:
        span = _span(row)
        if span is None or when is None:
            continue
        space, first, last = span
        n = current.get(id(row), 0)
        kind = str(row.get("Action type"))
        earlier = [e for e in seen[space] if e[0] <= last and first <= e[1]]
        report = when.year == year and n > 0
        if report and any(e[2] in TERMINAL_TYPES for e in earlier):
            out.append(fail("table3", n, "lifecycle.after_terminal", "action after use/cancel"))
        if kind == "First transfer" and report:
            if any(e[2] == "First transfer" for e in earlier):
                out.append(fail("table3", n, "lifecycle.first_transfer_once", "again"))
            own = row.get("First transferring participating Party ID") == party
            if own and not any(e[2] == "Authorization" for e in earlier):
                out.append(
                    fail("table3", n, "lifecycle.authorization_first", "no earlier authorization")
                )
        if report:
            out += _timeframe(row, n, when, authorizations.get(str(row.get("Authorization ID"))))
        seen[space].append((first, last, kind))
    return out


def _timeframe(row: Row, n: int, when: date, authorization: Row | None) -> Failures:
    if authorization is None:
        return []
    match = TIMEFRAME.fullmatch(str(authorization.get("Authorized timeframe")))
    authorized_on = parse_aef_date(authorization.get("Date of authorization", ""))
    if match is None or authorized_on is None:
        return []
    occurred_from, occurred_to, use_from, use_to = (parse_aef_date(g) for g in match.groups())
    out: Failures = []
    if row.get("Action type") != "Acquisition" and when < authorized_on:
        out.append(fail("table3", n, "lifecycle.timeframe", "action before the authorization"))
    vintage = _int(row.get("Vintage"))
    if occurred_from and occurred_to and not occurred_from.year <= vintage <= occurred_to.year:
        out.append(fail("table3", n, "lifecycle.timeframe", f"vintage {vintage} not authorized"))
    use_year = row.get("Calendar year for which the ITMOs are used towards the Party's NDC")
    if (
        isinstance(use_year, int)
        and use_from
        and use_to
        and not use_from.year <= use_year <= use_to.year
    ):
        out.append(fail("table3", n, "lifecycle.timeframe", f"use year {use_year} not authorized"))
    return out


# --- authorization limits -----------------------------------------------------


def check_limits(data: CheckInput) -> Failures:
    out: Failures = []
    authorizations = _authorizations(data)
    totals: dict[str, int] = defaultdict(int)
    current = _numbering(data.report.table3)
    for row in data.history:
        n = current.get(id(row), 0)
        ident = str(row.get("Authorization ID"))
        found = authorizations.get(ident)
        kind = row.get("Action type")
        if found is None or n == 0:
            if kind == "First transfer" and found is not None:
                totals[ident] += _int(row.get("Quantity (t CO2 eq)"))
            continue
        if kind == "First transfer":
            totals[ident] += _int(row.get("Quantity (t CO2 eq)"))
            if totals[ident] > _int(found.get("Authorized quantity")):
                out.append(fail("table3", n, "limits.quantity", f"{ident} cap exceeded"))
        acquirer = str(row.get("Acquiring participating Party ID"))
        home = row.get("First transferring participating Party ID")
        allowed = _list(found.get("Authorized Party(ies) ID"))
        if acquirer not in {NA, home} and acquirer not in allowed:
            out.append(fail("table3", n, "limits.acquiring_party", f"{acquirer} not authorized"))
        entity = str(row.get("Using/cancelling authorized entity ID"))
        if entity != NA and entity not in _list(found.get("Authorized entity(ies) ID")):
            out.append(fail("table3", n, "limits.entity", f"{entity} not authorized"))
        purpose = str(
            row.get("Purpose for which the ITMO has been used towards or cancelled for OIMP")
        )
        if kind == "Use" and purpose not in str(found.get("Purposes for authorization")):
            out.append(fail("table3", n, "limits.purpose", f"use for {purpose}"))
    return out


# --- cross-Party matching ----------------------------------------------------------------------


def check_matching(data: CheckInput) -> Failures:
    out: Failures = []
    party = data.report.party

    def key(row: Row) -> tuple[Any, ...]:
        return (
            *tuple(
                row.get(c)
                for c in ("Cooperative approach ID", "First ID", "Last ID", "Quantity (t CO2 eq)")
            ),
            str(row.get("Vintage")),
        )

    acquisitions = defaultdict(list)
    transfers = defaultdict(list)
    for row in data.counterpart_actions:
        if row.get("Action type") == "Acquisition":
            acquisitions[(str(row.get("Transferring participating Party ID")), key(row))].append(
                row
            )
        if row.get("Acquiring participating Party ID") == party:
            transfers[key(row)].append(row)
    for n, row in enumerate(data.report.table3, start=1):
        kind = row.get("Action type")
        to_party = str(row.get("Acquiring participating Party ID"))
        outgoing = kind == "Transfer" or row.get("Action subtype") in OUTGOING
        if outgoing and to_party != NA and not acquisitions.get((party, key(row))):
            out.append(fail("table3", n, "matching.acquisition", f"{to_party} has no acquisition"))
        if kind == "Acquisition" and not transfers.get(key(row)):
            source = row.get("Transferring participating Party ID")
            out.append(fail("table3", n, "matching.transfer", f"{source} has no transfer"))
    return out


# --- holdings reconciliation --------------------------------------------------


def check_holdings(data: CheckInput) -> Failures:
    year = data.report.reported_year
    previous = data.previous_holdings
    if previous is None:
        earlier = [r for r in data.history if _year(r) < year]
        if earlier:
            return [fail("table4", 0, "holdings.previous", f"no frozen holdings for {year - 1}")]
        previous = []
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for row in previous:
        expected[_bucket(row)] += _int(row.get("Quantity (t CO2 eq)"))
    for row in data.report.table3:
        quantity = _int(row.get("Quantity (t CO2 eq)"))
        kind, subtype = row.get("Action type"), row.get("Action subtype")
        if kind in {"Acquisition", "Authorization"}:
            expected[_bucket(row)] += quantity
        elif kind in {"Transfer", *TERMINAL_TYPES} or subtype in OUTGOING:
            expected[_bucket(row)] -= quantity
    actual: dict[tuple[str, str], int] = defaultdict(int)
    for row in data.report.table4:
        actual[_bucket(row)] += _int(row.get("Quantity (t CO2 eq)"))
    out: Failures = []
    for bucket in sorted(set(expected) | set(actual)):
        if expected[bucket] != actual[bucket]:
            out.append(
                fail(
                    "table4",
                    0,
                    "holdings.reconciliation",
                    f"{bucket[0]} vintage {bucket[1]}: held {actual[bucket]} t, "
                    f"last year's holdings and this year's actions give {expected[bucket]} t",
                )
            )
    return out


# --- accounting consistency ---------------------------------------------------


def check_accounting(data: CheckInput) -> Failures:
    party = data.report.party
    ft: dict[int, int] = defaultdict(int)
    used: dict[int, int] = defaultdict(int)
    for row in data.history:
        quantity = _int(row.get("Quantity (t CO2 eq)"))
        own = row.get("First transferring participating Party ID") == party
        if row.get("Action type") == "First transfer" and own:
            year = _int(row.get("Vintage")) if data.attribution == "vintage" else _year(row)
            ft[year] += quantity
        ndc_year = row.get("Calendar year for which the ITMOs are used towards the Party's NDC")
        if row.get("Action type") == "Use" and isinstance(ndc_year, int):
            used[ndc_year] += quantity
    out: Failures = []
    for year in sorted(set(data.balance_first_transfers) | set(data.balance_uses)):
        if ft.get(year, 0) != data.balance_first_transfers.get(year, 0):
            out.append(
                fail(
                    "table3",
                    0,
                    "accounting.first_transfers",
                    f"{year}: Table 3 first transfers {ft.get(year, 0)} t, balance "
                    f"{data.balance_first_transfers.get(year, 0)} t",
                )
            )
        if used.get(year, 0) != data.balance_uses.get(year, 0):
            out.append(
                fail(
                    "table3",
                    0,
                    "accounting.uses",
                    f"{year}: Table 3 uses {used.get(year, 0)} t, balance "
                    f"{data.balance_uses.get(year, 0)} t",
                )
            )
    return out


CHECKS: tuple[Callable[[CheckInput], Failures], ...] = (
    check_format,
    check_references,
    check_blocks,
    check_lifecycle,
    check_limits,
    check_matching,
    check_holdings,
    check_accounting,
)


# --- helpers ------------------------------------------------------------------


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _list(value: object) -> list[str]:
    return [] if value in {None, NA, ""} else str(value).split(", ")


def _year(row: Row) -> int:
    when = parse_aef_date(row.get("Action date", ""))
    return 0 if when is None else when.year


def _bucket(row: Row) -> tuple[str, str]:
    return (str(row.get("Cooperative approach ID")), str(row.get("Vintage")))


def _numbering(rows: Iterable[Row]) -> dict[int, int]:
    """Row numbers of this year's Table 3 rows, found by identity within the history."""
    return {id(row): n for n, row in enumerate(rows, start=1)}


def _span(row: Row) -> tuple[tuple[str, ...], int, int] | None:
    first = ITMO.fullmatch(str(row.get("First ID")))
    last = ITMO.fullmatch(str(row.get("Last ID")))
    if first is None or last is None:
        return None
    space = (*first.groups()[:3], first.group(5))
    if (*last.groups()[:3], last.group(5)) != space:
        return None
    return space, int(first.group(4)), int(last.group(4))
