"""Money with its currency, the one rounding rule, and dated exchange rates.

Money is `Decimal` with its ISO 4217 currency; two currencies never mix
without a rate. Prices and rates are kept exactly as agreed; an amount that
results from a multiplication or a conversion is rounded half-up to the minor
unit of its currency (0 places for KRW, JPY, KHR; 2 for most others). Exchange
rates form a dated table: the rate in force on a date is the latest dated on
or before it, a quotation the other way round is inverted, and a missing rate
is an error naming the pair and the date.

Finance refusals carry a `FinanceReason` beside the registry-wide rejection
code, so a refused finance command says exactly which rule it broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from article6.domain.errors import ActionRefused, RejectionCode

MINOR_UNITS: Mapping[str, int] = {"KRW": 0, "JPY": 0, "KHR": 0, "VND": 0, "CLP": 0}
DEFAULT_MINOR_UNITS = 2
MAX_AMOUNT = Decimal(10) ** 18


class FinanceReason(StrEnum):
    """Why a finance command was refused, beside the registry-wide rejection code."""

    INVALID_FIELD = "invalid_field"
    CURRENCY_MISMATCH = "currency_mismatch"
    NO_EXCHANGE_RATE = "no_exchange_rate"
    UNKNOWN_AGREEMENT = "unknown_agreement"
    AGREEMENT_EXISTS = "agreement_exists"
    VERSION_NOT_INCREASING = "version_not_increasing"
    AMENDMENT_CONFLICT = "amendment_conflict"
    NOT_IN_FORCE = "not_in_force"
    VINTAGE_OUTSIDE_AGREEMENT = "vintage_outside_agreement"
    OVER_DELIVERY = "over_delivery"
    OVER_DISBURSEMENT = "over_disbursement"
    DUPLICATE_REFERENCE = "duplicate_reference"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNITS_NOT_RECEIVED = "units_not_received"


_CODES: Mapping[FinanceReason, RejectionCode] = {
    FinanceReason.UNKNOWN_AGREEMENT: RejectionCode.INVALID_IDENTIFIER,
    FinanceReason.AGREEMENT_EXISTS: RejectionCode.ALREADY_EXISTS,
    FinanceReason.DUPLICATE_REFERENCE: RejectionCode.ALREADY_EXISTS,
    FinanceReason.VERSION_NOT_INCREASING: RejectionCode.VERSION_NOT_INCREASING,
    FinanceReason.VINTAGE_OUTSIDE_AGREEMENT: RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
    FinanceReason.UNKNOWN_ACCOUNT: RejectionCode.UNKNOWN_ACCOUNT,
    FinanceReason.UNITS_NOT_RECEIVED: RejectionCode.INSUFFICIENT_UNITS,
}


class FinanceRefused(ActionRefused):
    """A finance command broke a rule; `reason` says which, the message names the field."""

    def __init__(self, reason: FinanceReason, message: str) -> None:
        super().__init__(_CODES.get(reason, RejectionCode.INVALID_QUANTITY), message)
        self.reason = reason


def refuse(reason: FinanceReason, message: str) -> FinanceRefused:
    return FinanceRefused(reason, message)


# --- money -------------------------------------------------------------------


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNITS)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit: the one rounding rule for amounts."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def parse_decimal(value: object, name: str) -> Decimal:
    """A finite Decimal from a string, int or Decimal (never a float), naming the field."""
    if isinstance(value, (bool, float)):
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: give a decimal string, not {value!r}")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: {value!r} is not a number") from exc
    if not number.is_finite():
        raise refuse(FinanceReason.INVALID_FIELD, f"{name}: {value!r} is not finite")
    return number


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency (ISO 4217 code)."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise refuse(FinanceReason.INVALID_FIELD, f"amount {self.amount!r} is not a Decimal")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise refuse(FinanceReason.INVALID_FIELD, f"currency {self.currency!r} is not ISO 4217")
        if abs(self.amount) >= MAX_AMOUNT:
            raise refuse(FinanceReason.INVALID_FIELD, f"amount {self.amount} is out of range")

    @classmethod
    def of(cls, amount: object, currency: str) -> Money:
        return cls(parse_decimal(amount, f"amount in {currency}"), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise refuse(
                FinanceReason.CURRENCY_MISMATCH,
                f"cannot combine {self.currency} and {other.currency} without a rate",
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def times(self, factor: Decimal | int) -> Money:
        """The exact product, rounded to the currency's minor unit."""
        return Money(round_money(self.amount * factor, self.currency), self.currency)

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    def at_least_zero(self) -> Money:
        return self if self.amount > 0 else Money.zero(self.currency)

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"

    def to_dict(self) -> dict[str, str]:
        return {"amount": str(self.amount), "currency": self.currency}


def money_from_dict(data: Mapping[str, object]) -> Money:
    return Money.of(data["amount"], str(data["currency"]))


def total(amounts: Iterable[Money], currency: str) -> Money:
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result


# --- exchange rates ------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeRate:
    """On `rate_date`, one unit of `base` is worth `rate` units of `quote`."""

    base: str
    quote: str
    rate_date: date
    rate: Decimal
    source: str = ""

    def __post_init__(self) -> None:
        for code in (self.base, self.quote):
            Money.zero(code)  # validates the code
        if self.base == self.quote:
            raise refuse(FinanceReason.INVALID_FIELD, "an exchange rate needs two currencies")
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite() or self.rate <= 0:
            raise refuse(FinanceReason.INVALID_FIELD, f"rate {self.rate!r} must be positive")


@dataclass(frozen=True)
class Conversion:
    """A converted amount with the rate that produced it (None when no conversion)."""

    source: Money
    result: Money
    rate: Decimal | None
    rate_date: date | None


def rate_on(rates: Iterable[ExchangeRate], base: str, quote: str, on: date) -> tuple[Decimal, date]:
    """The rate for `base`→`quote` in force on `on`: the latest dated on or before it.

    A rate quoted the other way round is inverted; at equal dates the direct
    quotation wins. No rate on or before the date is an error naming the pair.
    """
    best: tuple[date, int, Decimal] | None = None
    for rate in rates:
        if rate.rate_date > on:
            continue
        if (rate.base, rate.quote) == (base, quote):
            candidate = (rate.rate_date, 1, rate.rate)
        elif (rate.base, rate.quote) == (quote, base):
            candidate = (rate.rate_date, 0, Decimal(1) / rate.rate)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise refuse(
            FinanceReason.NO_EXCHANGE_RATE,
            f"no {base}/{quote} exchange rate on or before {on.isoformat()}",
        )
    return best[2], best[0]


def convert(amount: Money, currency: str, on: date, rates: Iterable[ExchangeRate]) -> Conversion:
    """`amount` in `currency` at the rate in force on `on`, rounded to the minor unit."""
    if amount.currency == currency:
        return Conversion(amount, amount, None, None)
    rate, rate_date = rate_on(rates, amount.currency, currency, on)
    result = Money(round_money(amount.amount * rate, currency), currency)
    return Conversion(amount, result, rate, rate_date)
