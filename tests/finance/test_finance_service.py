"""Finance commands on the database: journaled, permission-checked, all or nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.finance import Disbursement
from article6.domain.finance_money import ExchangeRate, FinanceReason, FinanceRefused, Money
from article6.domain.permissions import Actor, PermissionDenied, Role
from article6.services import actions, finance, reference_case
from article6.services.commands import execute
from article6.services.finance_reference import (
    FUND_MANAGER,
    REFERENCE_AGREEMENT_ID,
    load_reference_agreement,
    read_reference_file,
)
from article6.services.finance_status import agreement_report, portfolio
from article6.services.verify import verify
from article6.store import finance_tables as ft
from article6.store import tables as t
from article6.store.database import read_connection
from article6.store.ledger_store import LedgerTransaction

REFERENCE = read_reference_file().agreement
OTHER_FINANCIER = Actor("jcm-officer", "JPN-JCM", "JPN", frozenset({Role.FINANCIER}))
KRW = "KRW"


@pytest.fixture
def world(engine: Engine, key_dir: Path) -> Engine:
    reference_case.load_setup(engine, key_dir)
    reference_case.load_reference_flows(engine)
    return engine


def send_to_korea(engine: Engine, vintage: int, quantity_t: int, when: date) -> None:
    """Issue units of `vintage` in Cambodia and first transfer them to KOR01-HOLDING."""
    actions.issue_units(
        engine,
        actor=reference_case.KHM_REGISTRY,
        approach_id="CA0001",
        registry_id="KHM01",
        vintage=vintage,
        quantity_t=quantity_t,
        action_date=when,
        authorization_id=reference_case.AUTHORIZATION_ID,
    )
    actions.first_transfer(
        engine,
        actor=reference_case.KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=actions.Selection("CA0001", vintage, quantity_t),
        authorization_id=reference_case.AUTHORIZATION_ID,
        action_date=when,
    )


def head_seq(engine: Engine) -> int:
    with read_connection(engine) as connection:
        return int(connection.execute(select(t.journal_head.c.seq)).scalar_one())


def count(engine: Engine, table: Any) -> int:
    with read_connection(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def journal_commands(engine: Engine) -> list[str]:
    with read_connection(engine) as connection:
        return list(
            connection.execute(select(t.journal.c.command).order_by(t.journal.c.seq)).scalars()
        )


def test_reference_agreement_status_by_hand(world: Engine) -> None:
    load_reference_agreement(world)
    assert journal_commands(world)[-3:] == [
        "FinancingAgreementRecorded",
        "DisbursementRecorded",
        "RecoveryDelivered",
    ]
    report = agreement_report(world, REFERENCE_AGREEMENT_ID, date(2026, 6, 30))
    assert report.status.value == "delivering"
    assert report.delivered_t == 40_000 and report.remaining_t == 360_000
    assert report.recovered == Money.of("594560000", KRW)
    assert report.outstanding_balance == Money.of("5351040000", KRW)
    assert report.disbursed == Money.of("2972800000", KRW)
    assert report.undisbursed == Money.of("2972800000", KRW)
    assert report.completion_year == 2034
    assert report.irr == 0
    assert report.warning is None
    assert report.entries[0].reference.startswith("journal:")
    text = "\n".join(report.lines())
    assert "5,351,040,000 KRW" in text and "projected completion: 2034" in text
    # A year later nothing of 2026 has arrived: the vintage is missed and the warning raised
    late = agreement_report(world, REFERENCE_AGREEMENT_ID, date(2027, 7, 1))
    assert late.through_vintage == 2026 and late.ledger[1].state == "missed"
    assert late.warning is not None and late.warning.behind_share == Decimal("0.5")
    # Half of plan from here on: 8 x 20,000 = 160,000 of the 360,000 t owed, 200,000 t short
    assert late.projected_shortfall_t == 200_000 and late.completion_year is None
    # A report dated before the delivery does not see it
    earlier = agreement_report(world, REFERENCE_AGREEMENT_ID, date(2026, 1, 1))
    assert earlier.delivered_t == 0 and earlier.status.value == "authorized"
    assert verify(world).ok


def test_a_non_financier_is_refused_and_nothing_changes(world: Engine) -> None:
    before = head_seq(world)
    for actor in (reference_case.KHM_REGISTRY, OTHER_FINANCIER):
        with pytest.raises(PermissionDenied):
            finance.record_agreement(world, actor=actor, agreement=REFERENCE)
    assert head_seq(world) == before
    assert count(world, ft.financing_agreements) == 0
    finance.record_agreement(world, actor=FUND_MANAGER, agreement=REFERENCE)
    amended = replace(REFERENCE, version=2, amendment_reason="Second instalment moved")
    paid = Disbursement("D-X", REFERENCE.agreement_id, date(2025, 8, 1), Money.of("1", KRW))
    before = head_seq(world)
    with pytest.raises(PermissionDenied):
        finance.amend_agreement(world, actor=OTHER_FINANCIER, agreement=amended)
    with pytest.raises(PermissionDenied):
        finance.record_disbursement(world, actor=OTHER_FINANCIER, disbursement=paid)
    with pytest.raises(PermissionDenied):
        finance.record_exchange_rate(
            world,
            actor=reference_case.KHM_REGISTRY,
            rate=ExchangeRate("USD", KRW, date(2026, 1, 1), Decimal(1350)),
        )
    with pytest.raises(PermissionDenied):  # the financier cannot credit itself with deliveries
        finance.record_delivery(
            world,
            actor=FUND_MANAGER,
            agreement_id=REFERENCE.agreement_id,
            vintage=2025,
            quantity_t=1,
            delivery_date=date(2026, 3, 16),
            reference="self",
        )
    assert head_seq(world) == before
    assert count(world, ft.finance_disbursements) == 0
    assert count(world, ft.finance_recoveries) == 0
    assert count(world, ft.finance_exchange_rates) == 0
    assert count(world, ft.financing_agreements) == 1


def test_recording_twice_and_unknown_accounts_are_refused(world: Engine) -> None:
    receipt = finance.record_agreement(
        world, actor=FUND_MANAGER, agreement=REFERENCE, idempotency_key="agreement-1"
    )
    replay = finance.record_agreement(
        world, actor=FUND_MANAGER, agreement=REFERENCE, idempotency_key="agreement-1"
    )
    assert replay.replayed and replay.seq == receipt.seq
    with pytest.raises(FinanceRefused) as refused:
        finance.record_agreement(world, actor=FUND_MANAGER, agreement=REFERENCE)
    assert refused.value.code is RejectionCode.ALREADY_EXISTS
    with pytest.raises(FinanceRefused) as refused:
        finance.record_agreement(
            world,
            actor=FUND_MANAGER,
            agreement=replace(REFERENCE, agreement_id="X-1", delivery_account="KOR01-NOPE"),
        )
    assert refused.value.reason is FinanceReason.UNKNOWN_ACCOUNT


def test_disbursements_never_exceed_the_commitment(world: Engine) -> None:
    finance.record_agreement(world, actor=FUND_MANAGER, agreement=REFERENCE)

    def pay(disbursement_id: str, amount: str, currency: str = KRW) -> None:
        finance.record_disbursement(
            world,
            actor=FUND_MANAGER,
            disbursement=Disbursement(
                disbursement_id,
                REFERENCE.agreement_id,
                date(2025, 8, 1),
                Money.of(amount, currency),
            ),
        )

    pay("D1", "5000000000")
    with pytest.raises(FinanceRefused) as refused:
        pay("D2", "945600001")
    assert refused.value.reason is FinanceReason.OVER_DISBURSEMENT
    with pytest.raises(FinanceRefused) as refused:
        pay("D3", "100.00", "USD")
    assert refused.value.reason is FinanceReason.CURRENCY_MISMATCH
    with pytest.raises(FinanceRefused) as refused:
        pay("D1", "1")
    assert refused.value.reason is FinanceReason.DUPLICATE_REFERENCE
    pay("D4", "945600000")
    report = agreement_report(world, REFERENCE.agreement_id, date(2025, 12, 31))
    assert report.disbursed == REFERENCE.committed
    assert report.undisbursed == Money.zero(KRW)
    assert not [f for f in report.cash_flows if f.kind == "scheduled_disbursement"]


def test_amendment_values_later_deliveries_at_the_new_price(world: Engine) -> None:
    load_reference_agreement(world)
    amended = replace(
        REFERENCE,
        version=2,
        effective_from=date(2027, 1, 1),
        terms=replace(REFERENCE.terms, price_per_t=Money.of("16000", KRW)),
        committed=Money.of("6400000000", KRW),
        disbursement_schedule=(),
        amendment_reason="Price per tonne revised on 2027-01-01",
    )
    finance.amend_agreement(world, actor=FUND_MANAGER, agreement=amended)
    assert journal_commands(world)[-1] == "FinancingAgreementAmended"
    send_to_korea(world, 2026, 10_000, date(2027, 3, 1))
    with read_connection(world) as connection:
        versions = finance.agreement_versions(connection, REFERENCE.agreement_id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0] == REFERENCE  # the first version is untouched
    entry = finance.record_delivery(
        world,
        actor=reference_case.KHM_REGISTRY,
        agreement_id=REFERENCE.agreement_id,
        vintage=2026,
        quantity_t=10_000,
        delivery_date=date(2027, 3, 1),
        reference="issuance 2026",
    ).details
    # Version 2: 10,000 t x 16,000 = 160,000,000 KRW; the 2025 delivery stays at 14,864
    assert entry["version"] == 2 and entry["value"] == {"amount": "160000000", "currency": KRW}
    report = agreement_report(world, REFERENCE.agreement_id, date(2027, 6, 30))
    assert report.recovered == Money.of("754560000", KRW)  # 594,560,000 + 160,000,000
    assert report.recovery_target == Money.of("6400000000", KRW)
    shrink = replace(
        amended,
        version=3,
        terms=replace(amended.terms, tranche_t=49_999),
        expected_delivery_t=(),
        amendment_reason="Reduce the tranche",
    )
    with pytest.raises(FinanceRefused) as refused:
        finance.amend_agreement(world, actor=FUND_MANAGER, agreement=shrink)
    assert refused.value.reason is FinanceReason.AMENDMENT_CONFLICT
    below_paid = replace(
        amended,
        version=3,
        committed=Money.of("2972799999", KRW),
        amendment_reason="Cut the commitment below what was paid",
    )
    with pytest.raises(FinanceRefused, match="below the 2,972,800,000 KRW already disbursed"):
        finance.amend_agreement(world, actor=FUND_MANAGER, agreement=below_paid)
    assert verify(world).ok


def test_delivery_in_the_allocation_transaction_rolls_back_with_it(world: Engine) -> None:
    finance.record_agreement(world, actor=FUND_MANAGER, agreement=REFERENCE)
    before = head_seq(world)

    def allocation_that_fails(tx: LedgerTransaction) -> dict[str, Any]:
        finance.record_delivery_in(
            tx,
            agreement_id=REFERENCE.agreement_id,
            vintage=2025,
            quantity_t=40_000,
            delivery_date=date(2026, 3, 16),
            reference="issuance 7",
        )
        raise ActionRefused(RejectionCode.INSUFFICIENT_UNITS, "the transfer failed")

    with pytest.raises(ActionRefused, match="transfer failed"):
        execute(world, reference_case.KHM_REGISTRY, "Allocate", {}, None, allocation_that_fails)
    assert head_seq(world) == before and count(world, ft.finance_recoveries) == 0

    def allocation(tx: LedgerTransaction) -> dict[str, Any]:
        # The reference flows left 28,000 t of 2025 pending in Cambodia: move 20,000 t more
        actions.prepare_first_transfer(
            actor=reference_case.KHM_REGISTRY,
            from_account="KHM01-PENDING",
            to_account="KOR01-HOLDING",
            selection=actions.Selection("CA0001", 2025, 20_000),
            authorization_id=reference_case.AUTHORIZATION_ID,
            action_date=date(2026, 5, 4),
        ).handler(tx)
        entries = finance.recover_from_allocation(
            tx,
            approach_id="CA0001",
            vintage=2025,
            quantity_t=60_000,  # 40,000 t earlier and 20,000 t now, none recovered yet
            account_id="KOR01-HOLDING",
            delivery_date=date(2026, 5, 4),
            reference="issuance 7",
        )
        return {"recovered": [(e.quantity_t, e.remaining_t) for e in entries]}

    receipt = execute(world, reference_case.KHM_REGISTRY, "Allocate", {}, None, allocation)
    assert receipt.details == {"recovered": [(60_000, 340_000)]}
    with read_connection(world) as connection:
        assert (
            finance.financier_due_in(connection, REFERENCE.agreement_id, 500_000, date(2027, 3, 1))
            == 340_000
        )
        open_now = finance.open_agreements_for_approach(connection, "CA0001", date(2027, 3, 1))
        assert [a.agreement_id for a in open_now] == [REFERENCE.agreement_id]
        assert finance.open_agreements_for_approach(connection, "CA0002", date(2027, 3, 1)) == []
    send_to_korea(world, 2026, 5_000, date(2027, 3, 1))
    with pytest.raises(FinanceRefused) as refused:
        finance.record_delivery(
            world,
            actor=reference_case.KHM_REGISTRY,
            agreement_id=REFERENCE.agreement_id,
            vintage=2026,
            quantity_t=1,
            delivery_date=date(2027, 3, 1),
            reference="issuance 7",
        )
    assert refused.value.reason is FinanceReason.DUPLICATE_REFERENCE


def test_every_recovery_is_backed_by_units_in_the_delivery_account(world: Engine) -> None:
    finance.record_agreement(world, actor=FUND_MANAGER, agreement=REFERENCE)

    def deliver(vintage: int, quantity_t: int, reference: str) -> None:
        finance.record_delivery(
            world,
            actor=reference_case.KHM_REGISTRY,
            agreement_id=REFERENCE.agreement_id,
            vintage=vintage,
            quantity_t=quantity_t,
            delivery_date=date(2027, 3, 1),
            reference=reference,
        )

    with pytest.raises(FinanceRefused) as refused:
        deliver(2026, 1, "no units of 2026 yet")
    assert refused.value.reason is FinanceReason.UNITS_NOT_RECEIVED
    assert refused.value.code is RejectionCode.INSUFFICIENT_UNITS
    deliver(2025, 30_000, "part of the 40,000 t first transferred")
    with pytest.raises(FinanceRefused, match="30,000 t already recovered: 10,001 t more"):
        deliver(2025, 10_001, "too much")
    deliver(2025, 10_000, "the rest")
    send_to_korea(world, 2026, 7_000, date(2027, 2, 1))
    receipt = finance.recover_received_units(
        world, actor=reference_case.KHM_REGISTRY, agreement_id=REFERENCE.agreement_id
    )
    assert [(e["vintage"], e["quantity_t"]) for e in receipt.details["recorded"]] == [(2026, 7_000)]
    again = finance.recover_received_units(
        world, actor=reference_case.KHM_REGISTRY, agreement_id=REFERENCE.agreement_id
    )
    assert again.details["recorded"] == []
    assert count(world, ft.finance_recoveries) == 3
    # 47,000 t through vintage 2026 against 80,000 t planned: the portfolio flags it
    assert portfolio(world, date(2027, 6, 30)).totals[0].behind_plan == 1
    assert verify(world).ok


def test_portfolio_in_one_currency_across_parties_sectors_and_statuses(world: Engine) -> None:
    load_reference_agreement(world)
    finance.record_exchange_rate(
        world, actor=FUND_MANAGER, rate=ExchangeRate("USD", KRW, date(2026, 1, 1), Decimal(1350))
    )
    with pytest.raises(FinanceRefused):
        finance.record_exchange_rate(
            world,
            actor=FUND_MANAGER,
            rate=ExchangeRate("USD", KRW, date(2026, 1, 1), Decimal(1351)),
        )
    cookstoves = replace(
        REFERENCE,
        agreement_id="KOR-ISP-2026-002",
        project_id="GH-COOK",
        project_name="Cookstoves",
        host_party="GHA",
        sector="Energy",
        currency="USD",
        committed=Money.of("1000000.00", "USD"),
        terms=replace(REFERENCE.terms, price_per_t=Money.of("10.00", "USD"), tranche_t=100_000),
        expected_delivery_t=(),
        disbursement_schedule=(),
        discount_rate=None,
        approach_id=None,
        authorization_id=None,
    )
    finance.record_agreement(world, actor=FUND_MANAGER, agreement=cookstoves)
    report = portfolio(world, date(2026, 6, 30), KRW)
    totals = {(x.dimension, x.key): x for x in report.totals}
    everything = totals[("all", "all")]
    # 5,945,600,000 + 1,000,000.00 USD x 1,350 = 7,295,600,000 KRW
    assert everything.committed == Money.of("7295600000", KRW)
    assert (everything.contracted_t, everything.delivered_t, everything.pipeline_t) == (
        500_000,
        40_000,
        460_000,
    )
    assert totals[("status", "pipeline")].committed == Money.of("1350000000", KRW)
    assert totals[("status", "delivering")].agreements == 1
    assert totals[("host_party", "GHA")].contracted_t == 100_000
    assert totals[("sector", "Transport")].recovered == Money.of("594560000", KRW)
    with pytest.raises(FinanceRefused) as refused:
        portfolio(world, date(2025, 12, 31), KRW)  # no USD rate yet
    assert refused.value.reason is FinanceReason.NO_EXCHANGE_RATE
    as_dict = report.to_dict()
    assert as_dict["totals"][0]["committed"] == "7295600000"
    # The cookstoves agreement has no flows yet, so the programme is the reference case
    assert report.irr == 0 and report.npv is None
    with_rate = portfolio(world, date(2026, 6, 30), KRW, Decimal("0.035"))
    reference = agreement_report(world, REFERENCE_AGREEMENT_ID, date(2026, 6, 30))
    assert with_rate.npv == reference.npv
    assert with_rate.to_dict()["programme_npv"] == str(reference.npv.amount)  # type: ignore[union-attr]
    in_usd = portfolio(world, date(2026, 6, 30), "USD", Decimal("0.035"))
    # 5,945,600,000 KRW / 1,350 = 4,404,148.148... -> 4,404,148.15 USD; + 1,000,000.00 USD
    assert in_usd.totals[0].committed == Money.of("5404148.15", "USD")
