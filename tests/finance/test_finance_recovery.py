"""Recovery arithmetic of the reference agreement and of the other kinds of terms,
with every figure worked out by hand in the comments."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from article6.domain.finance import (
    FinancingAgreement,
    RecoveryEntry,
    RecoveryMode,
    RecoveryPosition,
    RecoveryTerms,
    check_amendment,
    financier_due_t,
    position_after,
    recovery_for_delivery,
    validate_agreement,
    version_in_force,
)
from article6.domain.finance_analysis import (
    behind_plan,
    performance_ratio,
    projected_completion_year,
    projected_deliveries,
    recovery_ledger,
)
from article6.domain.finance_codec import agreement_from_dict, agreement_to_dict
from article6.domain.finance_money import ExchangeRate, FinanceReason, FinanceRefused, Money
from article6.services.finance_reference import read_reference_file

REFERENCE = read_reference_file().agreement
KRW = "KRW"
START = RecoveryPosition(0, Money.zero(KRW))


def deliver(
    agreement: FinancingAgreement, plan: list[tuple[int, int]], year_offset: int = 1
) -> list[RecoveryEntry]:
    """Deliver (vintage, tonnes) in order, each on 1 March of the following year."""
    entries: list[RecoveryEntry] = []
    for vintage, tonnes in plan:
        position = position_after(entries, agreement.currency)
        entries.append(
            recovery_for_delivery(
                agreement,
                position,
                vintage,
                tonnes,
                date(vintage + year_offset, 3, 1),
                f"issuance {vintage}",
            )
        )
    return entries


def test_reference_agreement_is_400_000_t_at_14_864_krw() -> None:
    assert REFERENCE.terms.mode is RecoveryMode.TRANCHE
    assert REFERENCE.terms.tranche_t == 400_000
    assert REFERENCE.committed == Money.of("5945600000", KRW)
    # 400,000 t x 14,864 KRW/t = 5,945,600,000 KRW
    assert REFERENCE.recovery_target() == Money.of("5945600000", KRW)
    assert sum(t for _, t in REFERENCE.expected_delivery_t) == 400_000
    assert agreement_from_dict(agreement_to_dict(REFERENCE)) == REFERENCE


def test_reference_first_delivery_by_hand() -> None:
    entry = recovery_for_delivery(
        REFERENCE, START, 2025, 40_000, date(2026, 3, 16), "first transfer"
    )
    # 40,000 t x 14,864 = 594,560,000 KRW; 5,945,600,000 - 594,560,000 = 5,351,040,000
    assert entry.value == Money.of("594560000", KRW)
    assert entry.outstanding_balance == Money.of("5351040000", KRW)
    assert (entry.delivered_after_t, entry.remaining_t, entry.complete) == (40_000, 360_000, False)
    assert entry.rate is None


def test_reference_full_recovery_over_the_crediting_period() -> None:
    entries = deliver(REFERENCE, [(v, 40_000) for v in range(2025, 2035)])
    last = entries[-1]
    assert last.complete and last.remaining_t == 0
    assert last.recovered_after == Money.of("5945600000", KRW)
    assert last.outstanding_balance == Money.zero(KRW)
    with pytest.raises(FinanceRefused) as refused:
        recovery_for_delivery(
            REFERENCE, position_after(entries, KRW), 2034, 1, date(2035, 6, 1), "one more"
        )
    assert refused.value.reason is FinanceReason.OVER_DELIVERY
    ledger = recovery_ledger(REFERENCE, entries, 2034)
    assert {row.state for row in ledger} == {"delivered"}
    assert projected_completion_year(entries, [], 0) == 2034


def test_partial_and_missed_vintages() -> None:
    entries = deliver(REFERENCE, [(2025, 40_000), (2026, 25_000), (2028, 40_000)])
    ledger = recovery_ledger(REFERENCE, entries, through_vintage=2028)
    by_vintage = {row.vintage: row for row in ledger}
    assert [by_vintage[v].state for v in range(2025, 2030)] == [
        "delivered",
        "partial",
        "missed",
        "delivered",
        "pending",
    ]
    assert by_vintage[2026].shortfall_t == 15_000
    assert by_vintage[2027].shortfall_t == 40_000
    assert by_vintage[2029].shortfall_t == 0
    # 25,000 t x 14,864 = 371,600,000 KRW
    assert by_vintage[2026].value_recovered == Money.of("371600000", KRW)
    assert by_vintage[2027].value_recovered == Money.zero(KRW)
    # 105,000 t delivered: 5,945,600,000 - 1,560,720,000 = 4,384,880,000 KRW outstanding
    assert by_vintage[2028].cumulative_delivered_t == 105_000
    assert by_vintage[2028].outstanding_balance == Money.of("4384880000", KRW)
    # Performance 105,000 / 160,000 = 0.65625; the rest projected at 26,250 t a vintage
    assert performance_ratio(ledger, 2028) == Decimal("0.65625")
    position = position_after(entries, KRW)
    projection = projected_deliveries(REFERENCE, ledger, 2028, position, date(2029, 1, 1))
    assert projection == [(v, 26_250) for v in range(2029, 2035)]
    # 6 x 26,250 = 157,500 < 295,000 still owed: not within the crediting period
    assert projected_completion_year(entries, projection, 295_000) is None
    warning = behind_plan(REFERENCE.expected_by_vintage(), {2025: 40_000, 2026: 25_000}, 2028)
    assert warning is not None
    # (160,000 - 65,000) / 160,000 = 59.375 %
    assert warning.behind_share == Decimal("0.5938")


def test_on_plan_and_ahead_of_plan_projections() -> None:
    on_plan = deliver(REFERENCE, [(2025, 40_000), (2026, 40_000)])
    ledger = recovery_ledger(REFERENCE, on_plan, 2026)
    projection = projected_deliveries(
        REFERENCE, ledger, 2026, position_after(on_plan, KRW), date(2027, 1, 1)
    )
    assert projected_completion_year(on_plan, projection, 320_000) == 2034
    ahead = deliver(REFERENCE, [(2025, 80_000)])
    ledger = recovery_ledger(REFERENCE, ahead, 2025)
    assert ledger[0].state == "ahead"
    projection = projected_deliveries(
        REFERENCE, ledger, 2025, position_after(ahead, KRW), date(2026, 1, 1)
    )
    # Ahead of plan is projected at plan, not faster: 8 x 40,000 = 320,000 by 2033
    assert projection[0] == (2026, 40_000)
    assert projected_completion_year(ahead, projection, 320_000) == 2033


def test_early_warning_threshold_is_configurable() -> None:
    plan = {2025: 40_000, 2026: 40_000}
    actual = {2025: 40_000, 2026: 30_000}  # 10,000 / 80,000 = 12.5 % behind
    assert behind_plan(plan, actual, 2026, Decimal("0.10")) is not None
    assert behind_plan(plan, actual, 2026, Decimal("0.125")) is None
    assert behind_plan(plan, actual, 2026, Decimal("0.20")) is None
    assert behind_plan(plan, actual, None) is None
    with pytest.raises(FinanceRefused, match="threshold"):
        behind_plan(plan, actual, 2026, Decimal("1.5"))


USD_PRICED = FinancingAgreement(
    agreement_id="ISP-USD-1",
    version=1,
    effective_from=date(2026, 1, 1),
    financier_id="KOR-ISP",
    financier_name="Korea investment support programme",
    recipient="DEV",
    project_id="P1",
    project_name="Cookstoves",
    host_party="GHA",
    sector="Energy",
    currency=KRW,
    committed=Money.of("50000000", KRW),
    terms=RecoveryTerms(
        price_per_t=Money.of("11.00", "USD"),
        share_of_issuance=Decimal("0.5"),
        recovery_amount=Money.of("50000000", KRW),
    ),
    delivery_account="KOR01-HOLDING",
    first_vintage=2025,
    last_vintage=2030,
)
RATES = (
    ExchangeRate("USD", "KRW", date(2026, 1, 1), Decimal("1350.00")),
    ExchangeRate("USD", "KRW", date(2026, 7, 1), Decimal("1400.00")),
)


def test_share_until_an_amount_with_a_price_in_another_currency() -> None:
    agreement = validate_agreement(USD_PRICED)
    assert agreement.terms.mode is RecoveryMode.SHARE_UNTIL_AMOUNT
    # Half of a 2,001 t issuance, rounded down: 1,000 t
    assert financier_due_t(agreement, START, 2_001, date(2026, 3, 2), RATES) == 1_000
    first = recovery_for_delivery(agreement, START, 2025, 1_000, date(2026, 3, 2), "I-1", RATES)
    # 1,000 t x 11.00 USD = 11,000.00 USD x 1,350 = 14,850,000 KRW
    assert first.value_at_price == Money.of("11000.00", "USD")
    assert first.value == Money.of("14850000", KRW)
    assert first.rate == Decimal("1350.00")
    assert first.outstanding_balance == Money.of("35150000", KRW)
    after = RecoveryPosition(first.delivered_after_t, first.recovered_after)
    # 35,150,000 KRW / 1,400 = 25,107.14 USD / 11.00 = 2,282.47 -> 2,283 t (rounded up)
    assert financier_due_t(agreement, after, 10_000, date(2026, 8, 1), RATES) == 2_283
    assert financier_due_t(agreement, after, 3_000, date(2026, 8, 1), RATES) == 1_500
    last = recovery_for_delivery(agreement, after, 2026, 2_283, date(2026, 8, 1), "I-2", RATES)
    # 2,283 x 11.00 = 25,113.00 USD x 1,400 = 35,158,200 KRW: 8,200 KRW more than owed
    assert last.value == Money.of("35158200", KRW)
    assert last.recovered_after == Money.of("50008200", KRW)
    assert last.outstanding_balance == Money.zero(KRW)
    assert last.complete
    done = RecoveryPosition(last.delivered_after_t, last.recovered_after)
    assert financier_due_t(agreement, done, 10_000, date(2026, 9, 1), RATES) == 0


def test_a_missing_rate_refuses_the_delivery() -> None:
    with pytest.raises(FinanceRefused) as refused:
        recovery_for_delivery(USD_PRICED, START, 2025, 10, date(2026, 3, 1), "no rate", ())
    assert refused.value.reason is FinanceReason.NO_EXCHANGE_RATE


def test_tranche_and_amount_stop_at_whichever_comes_first() -> None:
    both = replace(
        REFERENCE,
        terms=replace(
            REFERENCE.terms,
            share_of_issuance=Decimal("0.9"),
            recovery_amount=Money.of("1486400000", KRW),  # the value of 100,000 t
        ),
    )
    validate_agreement(both)
    assert both.terms.mode is RecoveryMode.TRANCHE_AND_AMOUNT
    # 90 % of 150,000 = 135,000, but 100,000 t recover the amount
    assert financier_due_t(both, START, 150_000, date(2026, 3, 1)) == 100_000
    # Cumulative shares do not drift: 90 % of 3 + 3 + 3 t is 8 t, not 2 + 2 + 2
    assert financier_due_t(both, START, 3, date(2026, 3, 1)) == 2
    two = RecoveryPosition(2, Money.of("29728", KRW))
    assert financier_due_t(both, two, 3, date(2026, 3, 1), available_before_t=3) == 3
    five = RecoveryPosition(5, Money.of("74320", KRW))
    assert financier_due_t(both, five, 3, date(2026, 3, 1), available_before_t=6) == 3


def test_invalid_agreements_name_the_field() -> None:
    cases = {
        "committed": replace(REFERENCE, committed=Money.of("5945600000.5", KRW)),
        "tranche_t": replace(REFERENCE, terms=replace(REFERENCE.terms, tranche_t=0)),
        "share_of_issuance": replace(
            REFERENCE, terms=replace(REFERENCE.terms, share_of_issuance=Decimal("1.2"))
        ),
        "recovery_amount": replace(
            REFERENCE, terms=RecoveryTerms(Money.of("10", "USD"), tranche_t=1_000)
        ),
        "expected_delivery_t": replace(REFERENCE, expected_delivery_t=((2025, 400_001),)),
        "disbursement_schedule": replace(
            REFERENCE, disbursement_schedule=REFERENCE.disbursement_schedule[:1]
        ),
        "amendment_reason": replace(REFERENCE, version=2),
        "vintages": replace(REFERENCE, first_vintage=2035),
    }
    for name, agreement in cases.items():
        with pytest.raises(FinanceRefused, match=name):
            validate_agreement(agreement)


def test_amendments_are_new_versions_that_keep_the_identity() -> None:
    amended = replace(
        REFERENCE,
        version=2,
        effective_from=date(2027, 1, 1),
        terms=replace(REFERENCE.terms, price_per_t=Money.of("16000", KRW)),
        amendment_reason="Price revised by the working group",
    )
    check_amendment(REFERENCE, validate_agreement(amended))
    assert version_in_force([REFERENCE, amended], date(2026, 12, 31)) is REFERENCE
    assert version_in_force([REFERENCE, amended], date(2027, 1, 1)) is amended
    with pytest.raises(FinanceRefused, match="no version"):
        version_in_force([REFERENCE, amended], date(2025, 1, 1))
    for change, reason in (
        ({"version": 3}, FinanceReason.VERSION_NOT_INCREASING),
        ({"financier_id": "OTHER"}, FinanceReason.AMENDMENT_CONFLICT),
        ({"currency": "USD"}, FinanceReason.AMENDMENT_CONFLICT),
        ({"effective_from": date(2025, 1, 1)}, FinanceReason.AMENDMENT_CONFLICT),
    ):
        with pytest.raises(FinanceRefused) as refused:
            check_amendment(REFERENCE, replace(amended, **change))  # type: ignore[arg-type]
        assert refused.value.reason is reason


def test_deliveries_outside_the_agreement_are_refused() -> None:
    for vintage, when, reason in (
        (2035, date(2036, 3, 1), FinanceReason.VINTAGE_OUTSIDE_AGREEMENT),
        (2025, date(2025, 7, 20), FinanceReason.NOT_IN_FORCE),
    ):
        with pytest.raises(FinanceRefused) as refused:
            recovery_for_delivery(REFERENCE, START, vintage, 10, when, "x")
        assert refused.value.reason is reason
    with pytest.raises(FinanceRefused, match="quantity_t"):
        recovery_for_delivery(REFERENCE, START, 2025, 0, date(2026, 3, 1), "x")
