"""Money, rounding and dated exchange rates, checked by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from article6.domain.finance_money import (
    ExchangeRate,
    FinanceReason,
    FinanceRefused,
    Money,
    convert,
    parse_decimal,
    rate_on,
    round_money,
    total,
)

USD_KRW = (
    ExchangeRate("USD", "KRW", date(2026, 1, 1), Decimal("1350.00"), "bank of Korea"),
    ExchangeRate("USD", "KRW", date(2026, 7, 1), Decimal("1400.00"), "bank of Korea"),
    ExchangeRate("EUR", "USD", date(2026, 1, 1), Decimal("1.0800")),
)


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.13")
    assert round_money(Decimal("0.124"), "USD") == Decimal("0.12")
    assert round_money(Decimal("2.5"), "KRW") == Decimal(3)
    assert round_money(Decimal("-2.5"), "KRW") == Decimal(-3)
    assert Money.of("14864", "KRW").times(400_000) == Money.of("5945600000", "KRW")
    assert Money.of("10.335", "USD").rounded() == Money.of("10.34", "USD")


def test_money_refuses_mixing_currencies_and_floats() -> None:
    with pytest.raises(FinanceRefused) as refused:
        Money.of("1", "KRW") + Money.of("1", "USD")
    assert refused.value.reason is FinanceReason.CURRENCY_MISMATCH
    with pytest.raises(FinanceRefused, match=r"not 0\.1"):
        parse_decimal(0.1, "price")
    with pytest.raises(FinanceRefused, match="ISO 4217"):
        Money.of("1", "won")
    with pytest.raises(FinanceRefused, match="not a number"):
        parse_decimal("12,5", "price")
    assert total([Money.of("1.10", "USD"), Money.of("2.20", "USD")], "USD") == Money.of(
        "3.30", "USD"
    )


def test_the_rate_in_force_is_the_latest_on_or_before_the_date() -> None:
    assert rate_on(USD_KRW, "USD", "KRW", date(2026, 6, 30)) == (
        Decimal("1350.00"),
        date(2026, 1, 1),
    )
    assert rate_on(USD_KRW, "USD", "KRW", date(2026, 7, 1))[0] == Decimal("1400.00")
    with pytest.raises(FinanceRefused, match="no USD/KRW exchange rate on or before 2025-12-31"):
        rate_on(USD_KRW, "USD", "KRW", date(2025, 12, 31))
    with pytest.raises(FinanceRefused) as refused:
        rate_on(USD_KRW, "EUR", "KRW", date(2026, 8, 1))
    assert refused.value.reason is FinanceReason.NO_EXCHANGE_RATE


def test_conversion_uses_the_dated_rate_and_rounds_once() -> None:
    spring = convert(Money.of("11000.00", "USD"), "KRW", date(2026, 3, 2), USD_KRW)
    assert spring.result == Money.of("14850000", "KRW")
    assert (spring.rate, spring.rate_date) == (Decimal("1350.00"), date(2026, 1, 1))
    # 25,113.00 USD x 1,400 = 35,158,200 KRW
    summer = convert(Money.of("25113.00", "USD"), "KRW", date(2026, 8, 1), USD_KRW)
    assert summer.result == Money.of("35158200", "KRW")
    # Inverted quotation: 35,150,000 KRW / 1,400 = 25,107.142857... -> 25,107.14 USD
    back = convert(Money.of("35150000", "KRW"), "USD", date(2026, 8, 1), USD_KRW)
    assert back.result == Money.of("25107.14", "USD")
    # 3 USD at 1,333.3333 = 3,999.9999 -> 4,000 KRW
    odd = (ExchangeRate("USD", "KRW", date(2026, 1, 1), Decimal("1333.3333")),)
    assert convert(Money.of("3", "USD"), "KRW", date(2026, 1, 2), odd).result.amount == 4000
    same = convert(Money.of("5", "KRW"), "KRW", date(2026, 1, 2), ())
    assert same.result == Money.of("5", "KRW") and same.rate is None


def test_a_direct_quotation_wins_over_an_inverse_one_on_the_same_day() -> None:
    rates = (
        ExchangeRate("KRW", "USD", date(2026, 1, 1), Decimal("0.0008")),
        ExchangeRate("USD", "KRW", date(2026, 1, 1), Decimal("1300")),
    )
    assert rate_on(rates, "USD", "KRW", date(2026, 1, 1))[0] == Decimal(1300)
    newer_inverse = (*rates, ExchangeRate("KRW", "USD", date(2026, 2, 1), Decimal("0.0008")))
    assert rate_on(newer_inverse, "USD", "KRW", date(2026, 2, 1))[0] == Decimal(1250)


def test_a_rate_must_be_positive_between_two_currencies() -> None:
    with pytest.raises(FinanceRefused, match="must be positive"):
        ExchangeRate("USD", "KRW", date(2026, 1, 1), Decimal(0))
    with pytest.raises(FinanceRefused, match="two currencies"):
        ExchangeRate("KRW", "KRW", date(2026, 1, 1), Decimal(1))
