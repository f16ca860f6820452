"""The pre-submission checks on hand-made AEF tables: a clean pair of reports
passes, and each rule fails on data made to break it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest

from article6.domain import aef
from article6.domain.aef_checks import CheckInput, run_checks
from article6.domain.aef_sources import Action
from article6.domain.model import Entity
from article6.services.reference_case import REFERENCE_LOA
from tests_support import make_block

VERYWORDS = Entity("VERYWORDS", "VeryWords Co., Ltd.", "KOR", "KR-110111-0000000")
ENTITIES = {"VERYWORDS": VERYWORDS}
LOA = "KHM-LOA-2025-001"


def block(first: int, last: int, account: str, **changes: object) -> object:
    return make_block(
        first=first,
        last=last,
        account_id=account,
        authorization_id=LOA,
        underlying_registry=None,
        underlying_first=None,
        **changes,
    )


def action(
    when: date, kind: str, subtype: str, registry: str, first: int, last: int, **extra: object
) -> aef.Row:
    acted = Action(
        seq=1,
        party=registry[:3],
        registry_id=registry,
        action_date=when,
        action_type=kind,
        subtype=subtype,
        block=block(first, last, f"{registry}-HOLDING"),  # type: ignore[arg-type]
        authorization=REFERENCE_LOA,
        **extra,  # type: ignore[arg-type]
    )
    return aef.action_row(acted, ENTITIES)


def khm_input() -> CheckInput:
    """Cambodia, 2026: issues 68,000 t of 2025, first transfers 40,000 t to Korea."""
    table3 = [
        action(date(2026, 3, 2), "Authorization", "Issuance", "KHM01", 1, 68_000),
        action(
            date(2026, 3, 16),
            "First transfer",
            "First transfer to another Party",
            "KHM01",
            28_001,
            68_000,
            acquiring_party="KOR",
        ),
    ]
    held = block(1, 28_000, "KHM01-PENDING")
    report = aef.AefReport(
        party="KHM",
        reported_year=2026,
        version="1.0",
        table1=[aef.submission_row("KHM", "1.0", 2026, date(2027, 4, 1), (2021, 2030))],
        table2=[
            aef.authorization_row(REFERENCE_LOA, ("Transportation",), ("Transport",), ENTITIES)
        ],
        table3=table3,
        table4=[aef.holding_row("KHM01", held, REFERENCE_LOA)],  # type: ignore[arg-type]
        table5=[aef.entity_row(REFERENCE_LOA, VERYWORDS, [])],
    )
    counterpart = [
        action(
            date(2026, 3, 16),
            "Acquisition",
            "NA",
            "KOR01",
            28_001,
            68_000,
            transferring_party="KHM",
        ),
    ]
    return CheckInput(
        report=report,
        counterpart_actions=counterpart,
        balance_first_transfers={2025: 40_000, 2026: 0},
        balance_uses={2025: 0, 2026: 0},
    )


def kor_input() -> CheckInput:
    """Korea, 2026: acquires the 40,000 t and uses 10,000 t towards its 2030 NDC."""
    table3 = [
        action(
            date(2026, 3, 16),
            "Acquisition",
            "NA",
            "KOR01",
            28_001,
            68_000,
            transferring_party="KHM",
        ),
        action(
            date(2026, 4, 1),
            "Use",
            "Use towards NDC",
            "KOR01",
            58_001,
            68_000,
            purpose="NDC",
            using_party="KOR",
            use_year=2030,
        ),
    ]
    held = block(28_001, 58_000, "KOR01-HOLDING", first_transferred=True)
    khm = khm_input()
    report = aef.AefReport(
        party="KOR",
        reported_year=2026,
        version="1.0",
        table1=[aef.submission_row("KOR", "1.0", 2026, date(2027, 4, 1), (2021, 2030))],
        table2=[],
        table3=table3,
        table4=[aef.holding_row("KOR01", held, REFERENCE_LOA)],  # type: ignore[arg-type]
        table5=[],
    )
    return CheckInput(
        report=report,
        counterpart_actions=khm.report.table3,
        counterpart_authorizations=khm.report.table2,
        balance_first_transfers={2030: 0},
        balance_uses={2030: 10_000},
    )


def test_clean_reports_pass_every_check() -> None:
    assert run_checks(khm_input()) == []
    assert run_checks(kor_input()) == []


Breaker = Callable[[CheckInput], CheckInput]


def rows(data: CheckInput, key: str) -> list[aef.Row]:
    return data.report.tables()[key]


def set_cell(key: str, index: int, label: str, value: aef.Cell) -> Breaker:
    def breaker(data: CheckInput) -> CheckInput:
        rows(data, key)[index][label] = value
        return data

    return breaker


def with_(**changes: object) -> Breaker:
    return lambda data: replace(data, **changes)  # type: ignore[arg-type]


def drop(key: str, index: int) -> Breaker:
    def breaker(data: CheckInput) -> CheckInput:
        rows(data, key).pop(index)
        return data

    return breaker


def add_overlapping_holding(data: CheckInput) -> CheckInput:
    rows(data, "table4").append(dict(rows(data, "table4")[0]))
    return data


def earlier(kind: str, subtype: str) -> Breaker:
    def breaker(data: CheckInput) -> CheckInput:
        extra = {"acquiring_party": "KOR"} if kind == "First transfer" else {"using_party": "KHM"}
        row = action(date(2025, 12, 1), kind, subtype, "KHM01", 30_001, 30_010, **extra)
        return replace(data, earlier_actions=[row], previous_holdings=[])

    return breaker


def vintage_2040(data: CheckInput) -> CheckInput:
    row = rows(data, "table3")[1]
    for label in ("First ID", "Last ID"):
        row[label] = str(row[label]).replace("-2025", "-2040")
    row["Vintage"] = 2040
    return data


def use_for_oimp(data: CheckInput) -> CheckInput:
    row = rows(data, "table3")[1]
    row["Action subtype"] = "Use for OIMP"
    row["Purpose for which the ITMO has been used towards or cancelled for OIMP"] = "OIMP"
    row["Calendar year for which the ITMOs are used towards the Party's NDC"] = aef.NA
    return replace(data, balance_uses={})


KHM_BREAKERS: dict[str, Breaker] = {
    "format.date": set_cell("table3", 0, "Action date", "2026-03-02"),
    "format.vocabulary": set_cell("table3", 0, "Action type", "Gift"),
    "format.subtype": set_cell("table3", 0, "Action subtype", "Use towards NDC"),
    "format.not_applicable": set_cell("table3", 0, "Acquiring participating Party ID", "KOR"),
    "format.platform_blank": set_cell("table3", 0, "Result of the consistency checks", "ok"),
    "format.identifier": set_cell("table3", 0, "First ID", "KHM-1"),
    "format.quantity": set_cell("table3", 0, "Quantity (t CO2 eq)", -5),
    "format.version": set_cell("table1", 0, "Version", "1"),
    "format.timeframe": set_cell("table2", 0, "Authorized timeframe", "2025 to 2034"),
    "format.columns": lambda d: (rows(d, "table5")[0].pop("Name"), d)[1],
    "reference.authorization": set_cell("table3", 1, "Authorization ID", "KHM-LOA-9"),
    "reference.approach": set_cell("table4", 0, "Cooperative approach ID", "CA0002"),
    "reference.entity": drop("table5", 0),
    "block.order": set_cell("table3", 1, "First ID", "CA0001-KHM01-KHM-99999-2025"),
    "block.quantity": set_cell("table3", 1, "Quantity (t CO2 eq)", 39_999),
    "block.vintage": set_cell("table3", 1, "Vintage", 2026),
    "block.overlap": add_overlapping_holding,
    "lifecycle.first_transfer_once": earlier("First transfer", "First transfer to another Party"),
    "lifecycle.after_terminal": earlier("Voluntary Cancellation", "NA"),
    "lifecycle.authorization_first": drop("table3", 0),
    "lifecycle.timeframe": vintage_2040,
    "limits.quantity": set_cell("table2", 0, "Authorized quantity", 30_000),
    "limits.acquiring_party": set_cell("table3", 1, "Acquiring participating Party ID", "JPN"),
    "matching.acquisition": with_(counterpart_actions=[]),
    "holdings.reconciliation": drop("table4", 0),
    "holdings.previous": with_(
        earlier_actions=[action(date(2025, 5, 1), "Authorization", "Issuance", "KHM01", 1, 5)]
    ),
    "accounting.first_transfers": with_(balance_first_transfers={2025: 30_000}),
}

KOR_BREAKERS: dict[str, Breaker] = {
    "limits.entity": set_cell("table3", 1, "Using/cancelling authorized entity ID", "XX-1"),
    "limits.purpose": use_for_oimp,
    "matching.transfer": with_(counterpart_actions=[]),
    "accounting.uses": with_(balance_uses={2030: 5_000}),
    "format.date": set_cell("table3", 1, "Action date", "31/02/2026"),
}


@pytest.mark.parametrize("rule", sorted(KHM_BREAKERS))
def test_each_rule_fails_on_cambodias_report(rule: str) -> None:
    failures = run_checks(KHM_BREAKERS[rule](khm_input()))
    assert rule in {f.rule for f in failures}, failures


@pytest.mark.parametrize("rule", sorted(KOR_BREAKERS))
def test_each_rule_fails_on_koreas_report(rule: str) -> None:
    failures = run_checks(KOR_BREAKERS[rule](kor_input()))
    assert rule in {f.rule for f in failures}, failures


def test_failures_name_table_row_and_rule() -> None:
    data = set_cell("table3", 1, "Quantity (t CO2 eq)", 39_999)(khm_input())
    failure = next(f for f in run_checks(data) if f.rule == "block.quantity")
    assert (failure.table, failure.row) == ("table3", 2)
    assert failure.to_dict()["message"] == "quantity is not 40000"
