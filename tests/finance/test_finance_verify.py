"""Finance replay: a clean journal checks out, a changed projection is named."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from article6.cli.main import app
from article6.domain.finance_money import ExchangeRate
from article6.services import actions, finance, reference_case
from article6.services.finance_reference import (
    FUND_MANAGER,
    REFERENCE_AGREEMENT_ID,
    load_reference_agreement,
    reference_status_lines,
)
from article6.services.finance_verify import verify_finance
from article6.store import finance_tables as ft


@pytest.fixture
def loaded(engine: Engine, key_dir: Path) -> Engine:
    reference_case.load_setup(engine, key_dir)
    reference_case.load_reference_flows(engine)
    load_reference_agreement(engine)
    finance.record_exchange_rate(
        engine,
        actor=FUND_MANAGER,
        rate=ExchangeRate("USD", "KRW", date(2026, 1, 2), Decimal("1441.50"), "illustrative"),
    )
    actions.issue_units(
        engine,
        actor=reference_case.KHM_REGISTRY,
        approach_id="CA0001",
        registry_id="KHM01",
        vintage=2026,
        quantity_t=12_345,
        action_date=date(2027, 3, 2),
        authorization_id=reference_case.AUTHORIZATION_ID,
    )
    actions.first_transfer(
        engine,
        actor=reference_case.KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=actions.Selection("CA0001", 2026, 12_345),
        authorization_id=reference_case.AUTHORIZATION_ID,
        action_date=date(2027, 3, 2),
    )
    finance.record_delivery(
        engine,
        actor=reference_case.KHM_REGISTRY,
        agreement_id=REFERENCE_AGREEMENT_ID,
        vintage=2026,
        quantity_t=12_345,
        delivery_date=date(2027, 3, 2),
        reference="issuance 2026",
    )
    return engine


def test_a_clean_finance_journal_checks_out(loaded: Engine, database_url: str) -> None:
    report = verify_finance(loaded)
    assert report.ok, report.problem
    assert report.events == 5  # agreement, disbursement, two deliveries, one rate
    assert "2 recovery deliveries recomputed" in report.checks
    result = CliRunner().invoke(app, ["finance", "verify", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    lines = reference_status_lines(loaded)
    assert lines[0] == ("Financing agreement KOR-ISP-2025-001 v1 (delivering), as of 2026-06-30")


def test_changed_projections_are_found(loaded: Engine, database_url: str) -> None:
    with loaded.begin() as connection:
        row = connection.execute(
            ft.finance_recoveries.select().where(ft.finance_recoveries.c.vintage == 2026)
        ).one()
        data = json.loads(row.data)
        data["value"]["amount"] = "1"
        connection.execute(
            update(ft.finance_recoveries)
            .where(ft.finance_recoveries.c.seq == row.seq)
            .values(data=json.dumps(data))
        )
    report = verify_finance(loaded)
    assert not report.ok and report.problem == (
        "finance_recoveries differ from the replayed journal"
    )
    result = CliRunner().invoke(
        app, ["finance", "verify", "--database-url", database_url, "--json"]
    )
    assert result.exit_code == 1 and '"ok": false' in result.output
    with loaded.begin() as connection:
        connection.execute(
            update(ft.finance_recoveries)
            .where(ft.finance_recoveries.c.seq == row.seq)
            .values(data=row.data)
        )
    assert verify_finance(loaded).ok
    with loaded.begin() as connection:
        connection.execute(update(ft.finance_exchange_rates).values(rate="1441.49"))
    report = verify_finance(loaded)
    assert not report.ok and report.problem is not None and "exchange_rates" in report.problem
