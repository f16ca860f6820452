"""NPV, IRR, cash flows and portfolio totals, against hand and independent figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from article6.domain.finance import (
    AgreementStatus,
    Disbursement,
    position_after,
    recovery_for_delivery,
)
from article6.domain.finance_analysis import (
    CashFlow,
    PortfolioLine,
    irr,
    npv,
    portfolio_totals,
    programme_cash_flows,
    projected_deliveries,
    recovery_ledger,
)
from article6.domain.finance_money import FinanceRefused, Money
from article6.services.finance_reference import read_reference_file

REFERENCE = read_reference_file().agreement


def flow(day: date, amount: str, currency: str = "KRW") -> CashFlow:
    return CashFlow(day, Money.of(amount, currency), "test", "")


def test_npv_and_irr_of_one_year_by_hand() -> None:
    flows = [flow(date(2025, 1, 1), "-1000"), flow(date(2026, 1, 1), "1100")]  # 365 days
    assert npv(flows, Decimal("0.10")) == Money.of("0", "KRW")
    # 1,100 / 1.05 - 1,000 = 47.619 -> 48 KRW
    assert npv(flows, Decimal("0.05")) == Money.of("48", "KRW")
    assert irr(flows) == Decimal("0.10000000")


def test_irr_of_two_years_and_of_a_loss() -> None:
    # -100, +60, +60 a year apart: 60/(1+r) + 60/(1+r)^2 = 100 -> r = 0.130662386...
    flows = [
        flow(date(2025, 1, 1), "-100.00", "USD"),
        flow(date(2026, 1, 1), "60.00", "USD"),
        flow(date(2027, 1, 1), "60.00", "USD"),
    ]
    assert irr(flows) == Decimal("0.13066239")
    loss = [flow(date(2025, 1, 1), "-100.00", "USD"), flow(date(2026, 1, 1), "80.00", "USD")]
    assert irr(loss) == Decimal("-0.20000000")
    assert irr([flow(date(2025, 1, 1), "100")]) is None
    assert irr([]) is None
    with pytest.raises(FinanceRefused):
        npv(flows, Decimal(-1))


def test_reference_cash_flows_npv_and_zero_irr() -> None:
    paid = [
        Disbursement("D1", REFERENCE.agreement_id, date(2025, 8, 1), Money.of("2972800000", "KRW"))
    ]
    first = recovery_for_delivery(
        REFERENCE,
        position_after([], "KRW"),
        2025,
        40_000,
        date(2026, 3, 16),
        "first transfer",
    )
    ledger = recovery_ledger(REFERENCE, [first], 2025)
    position = position_after([first], "KRW")
    projection = projected_deliveries(REFERENCE, ledger, 2025, position, date(2026, 6, 30))
    flows = programme_cash_flows(REFERENCE, paid, [first], projection)
    kinds = [f.kind for f in flows]
    assert kinds.count("disbursement") == 1
    assert kinds.count("scheduled_disbursement") == 1  # the second instalment, not yet paid
    assert kinds.count("recovery") == 1 and kinds.count("projected_recovery") == 9
    assert sum(f.amount.amount for f in flows) == 0  # every won paid out comes back in credits
    assert irr(flows) == 0  # so the programme earns nothing in nominal terms
    # NPV at 3.5 % a year, recomputed independently in floating point
    start = min(f.flow_date for f in flows)
    expected = sum(
        float(f.amount.amount) / 1.035 ** ((f.flow_date - start).days / 365) for f in flows
    )
    value = npv(flows, Decimal("0.035"))
    assert abs(float(value.amount) - expected) < 1.0
    assert value.amount < 0


def test_portfolio_totals_by_party_sector_and_status() -> None:
    def line(
        agreement_id: str, host: str, sector: str, status: AgreementStatus, **t: int
    ) -> PortfolioLine:
        def krw(amount: int) -> Money:
            return Money(Decimal(amount), "KRW")

        return PortfolioLine(
            agreement_id,
            host,
            sector,
            status,
            t["contracted"],
            t["delivered"],
            krw(t["committed"]),
            krw(t["disbursed"]),
            krw(t["recovered"]),
            krw(t["committed"] - t["recovered"]),
            agreement_id == "A",
        )

    lines = [
        line("A", "KHM", "Transport", AgreementStatus.DELIVERING, contracted=400, delivered=40,
             committed=4000, disbursed=2000, recovered=400),
        line("B", "GHA", "Energy", AgreementStatus.PIPELINE, contracted=100, delivered=0,
             committed=1000, disbursed=0, recovered=0),
        line("C", "KHM", "Energy", AgreementStatus.RECOVERED, contracted=50, delivered=50,
             committed=500, disbursed=500, recovered=500),
    ]  # fmt: skip
    totals = {(t.dimension, t.key): t for t in portfolio_totals(lines, "KRW")}
    everything = totals[("all", "all")]
    assert (everything.agreements, everything.contracted_t, everything.delivered_t) == (3, 550, 90)
    assert everything.pipeline_t == 460
    assert everything.committed == Money.of("5500", "KRW")
    assert everything.outstanding == Money.of("4600", "KRW")
    assert totals[("host_party", "KHM")].contracted_t == 450
    assert totals[("sector", "Energy")].recovered == Money.of("500", "KRW")
    assert totals[("status", "pipeline")].pipeline_t == 100
    assert totals[("status", "recovered")].pipeline_t == 0
    assert next(iter(totals)) == ("all", "all")
    assert everything.behind_plan == 1
    assert totals[("host_party", "KHM")].behind_plan == 1
    assert totals[("sector", "Energy")].behind_plan == 0
