"""Investment recovery in credits: financing agreements and their arithmetic.

An investment support programme (Korea's, in the reference case) pays a
company up front and is repaid in mitigation outcomes. A financing agreement
says how: a fixed *tranche* of N tonnes valued at a price per tonne, a *share*
of each issuance until an *amount* is recovered, or both (a share of each
issuance until the tranche is delivered or the amount recovered, whichever
comes first). Each delivery of credits is valued at the agreed price and, when
the price and the financing currency differ, converted at the dated exchange
rate in force on the delivery date.

Agreements are versioned: an amendment is a new version, never an edit, and
the version in force on a delivery's date values that delivery.

Rounding: money follows `finance_money` (half-up to the currency's minor
unit, once per multiplication or conversion). Tonnes are whole numbers; a
share of an issuance is rounded down (of the cumulative total when the caller
gives what earlier issuances offered, so rounding never drifts), and the
tonnes needed to recover an amount are rounded up (the last credit may
recover a little more than what was owed; the balance never goes below zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from article6.domain.finance_money import (
    ExchangeRate,
    FinanceReason,
    FinanceRefused,
    Money,
    convert,
    refuse,
    total,
)

MAX_TONNES = 10**12
MAX_SCHEDULE_ITEMS = 500


# --- agreements ------------------------------------------------------------------


class RecoveryMode(StrEnum):
    TRANCHE = "tranche"
    SHARE_UNTIL_AMOUNT = "share_until_amount"
    TRANCHE_AND_AMOUNT = "tranche_and_amount"


@dataclass(frozen=True)
class RecoveryTerms:
    """How the financier is repaid in credits.

    `tranche_t`: a fixed number of tonnes. `recovery_amount`: an amount (in the
    agreement's currency) to recover. `share_of_issuance`: the part of each
    issuance the financier is due until then (None: everything the allocation
    offers). Each credit is valued at `price_per_t`.
    """

    price_per_t: Money
    tranche_t: int | None = None
    share_of_issuance: Decimal | None = None
    recovery_amount: Money | None = None

    @property
    def mode(self) -> RecoveryMode:
        if self.tranche_t is not None and self.recovery_amount is not None:
            return RecoveryMode.TRANCHE_AND_AMOUNT
        if self.tranche_t is not None:
            return RecoveryMode.TRANCHE
        return RecoveryMode.SHARE_UNTIL_AMOUNT


@dataclass(frozen=True)
class ScheduledDisbursement:
    due_date: date
    amount: Money


@dataclass(frozen=True)
class Disbursement:
    """Money actually paid out by the financier."""

    disbursement_id: str
    agreement_id: str
    disbursement_date: date
    amount: Money
    note: str = ""


class AgreementStatus(StrEnum):
    PIPELINE = "pipeline"  # signed, project not yet authorized
    AUTHORIZED = "authorized"  # the host Party's authorization exists; nothing delivered yet
    DELIVERING = "delivering"  # credits are being delivered
    RECOVERED = "recovered"  # the terms are fulfilled


@dataclass(frozen=True)
class FinancingAgreement:
    """One version of a financing agreement; amendments are later versions."""

    agreement_id: str
    version: int
    effective_from: date
    financier_id: str  # the financier's organisation: only it may change the agreement
    financier_name: str
    recipient: str  # the company financed (the project developer)
    project_id: str
    project_name: str
    host_party: str
    sector: str
    currency: str
    committed: Money
    terms: RecoveryTerms
    delivery_account: str
    first_vintage: int
    last_vintage: int
    expected_delivery_t: tuple[tuple[int, int], ...] = ()
    disbursement_schedule: tuple[ScheduledDisbursement, ...] = ()
    discount_rate: Decimal | None = None
    approach_id: str | None = None
    authorization_id: str | None = None
    amendment_reason: str = ""
    notes: str = field(default="", compare=False)

    def expected_by_vintage(self) -> dict[int, int]:
        return dict(self.expected_delivery_t)

    def target_tonnes(self) -> int | None:
        return self.terms.tranche_t

    def recovery_target(self) -> Money:
        """The amount the programme expects back, in the agreement's currency."""
        if self.terms.recovery_amount is not None:
            return self.terms.recovery_amount
        tranche_t = self.terms.tranche_t
        if tranche_t is None:  # excluded by validate_agreement
            raise refuse(FinanceReason.INVALID_FIELD, "terms need a tranche or an amount")
        return self.terms.price_per_t.times(tranche_t)


def validate_agreement(agreement: FinancingAgreement) -> FinancingAgreement:
    """Check every field; the first problem is raised, naming the field."""
    a = agreement

    def bad(name: str, problem: str) -> FinanceRefused:
        return refuse(
            FinanceReason.INVALID_FIELD, f"agreement {a.agreement_id!r}: {name} {problem}"
        )

    for name in ("agreement_id", "financier_id", "recipient", "project_id", "delivery_account"):
        value = getattr(a, name)
        if not value or len(value) > 64 or not value.replace("-", "").replace("_", "").isalnum():
            raise bad(name, "must be 1 to 64 letters, digits, '-' or '_'")
    if a.version < 1:
        raise bad("version", "must be 1 or more")
    if len(a.host_party) != 3 or not a.host_party.isupper():
        raise bad("host_party", "must be a 3-letter Party code")
    if not a.sector:
        raise bad("sector", "is required")
    Money.zero(a.currency)
    if a.committed.currency != a.currency or a.committed.amount <= 0:
        raise bad("committed", f"must be a positive amount in {a.currency}")
    if a.committed.rounded() != a.committed:
        raise bad("committed", f"has more decimals than {a.currency} allows")
    _validate_terms(a)
    if not 1990 <= a.first_vintage <= a.last_vintage <= 2100:
        raise bad("vintages", f"{a.first_vintage}..{a.last_vintage} are not a valid range")
    vintages = [v for v, _ in a.expected_delivery_t]
    if len(set(vintages)) != len(vintages) or vintages != sorted(vintages):
        raise bad("expected_delivery_t", "must list each vintage once, in order")
    for vintage, tonnes in a.expected_delivery_t:
        if not a.first_vintage <= vintage <= a.last_vintage:
            raise bad("expected_delivery_t", f"vintage {vintage} lies outside the agreement")
        if not isinstance(tonnes, int) or not 0 <= tonnes <= MAX_TONNES:
            raise bad("expected_delivery_t", f"{tonnes!r} t for {vintage} is not whole tonnes")
    if a.terms.tranche_t is not None and sum(t for _, t in a.expected_delivery_t) > (
        a.terms.tranche_t
    ):
        raise bad("expected_delivery_t", "plans more than the tranche")
    if len(a.disbursement_schedule) > MAX_SCHEDULE_ITEMS:
        raise bad("disbursement_schedule", f"has more than {MAX_SCHEDULE_ITEMS} items")
    scheduled = Money.zero(a.currency)
    for item in a.disbursement_schedule:
        if item.amount.currency != a.currency or item.amount.amount <= 0:
            raise bad("disbursement_schedule", f"item of {item.due_date} must be positive")
        scheduled = scheduled + item.amount
    if a.disbursement_schedule and scheduled != a.committed:
        raise bad("disbursement_schedule", f"adds up to {scheduled}, not {a.committed}")
    if a.discount_rate is not None and not Decimal("-0.5") < a.discount_rate < Decimal(1):
        raise bad("discount_rate", "must lie between -0.5 and 1 (a yearly rate)")
    if a.version > 1 and not a.amendment_reason.strip():
        raise bad("amendment_reason", "is required for an amendment")
    return a


def _validate_terms(a: FinancingAgreement) -> None:
    def fail(name: str, problem: str) -> FinanceRefused:
        return refuse(
            FinanceReason.INVALID_FIELD, f"agreement {a.agreement_id!r}: {name} {problem}"
        )

    terms = a.terms
    if terms.price_per_t.amount <= 0:
        raise fail("price_per_t", "must be positive")
    if terms.tranche_t is None and terms.recovery_amount is None:
        raise fail("terms", "need a tranche in tonnes, an amount to recover, or both")
    if terms.tranche_t is not None and not 0 < terms.tranche_t <= MAX_TONNES:
        raise fail("tranche_t", "must be a positive whole number of tonnes")
    share = terms.share_of_issuance
    if share is not None and not Decimal(0) < share <= Decimal(1):
        raise fail("share_of_issuance", "must lie in (0, 1]")
    if terms.recovery_amount is not None and (
        terms.recovery_amount.currency != a.currency or terms.recovery_amount.amount <= 0
    ):
        raise fail("recovery_amount", f"must be a positive amount in {a.currency}")
    if terms.recovery_amount is None and terms.price_per_t.currency != a.currency:
        raise fail(
            "recovery_amount",
            f"is required when the price ({terms.price_per_t.currency}) and the financing "
            f"({a.currency}) currencies differ",
        )


def check_amendment(previous: FinancingAgreement, amended: FinancingAgreement) -> None:
    """An amendment keeps the identity of the agreement and moves forward in time."""
    if amended.agreement_id != previous.agreement_id:
        raise refuse(FinanceReason.AMENDMENT_CONFLICT, "an amendment keeps the agreement id")
    if amended.version != previous.version + 1:
        raise refuse(
            FinanceReason.VERSION_NOT_INCREASING,
            f"agreement {previous.agreement_id}: next version is {previous.version + 1}, "
            f"not {amended.version}",
        )
    for name in ("financier_id", "currency", "project_id", "host_party"):
        if getattr(amended, name) != getattr(previous, name):
            raise refuse(
                FinanceReason.AMENDMENT_CONFLICT,
                f"agreement {previous.agreement_id}: an amendment cannot change {name}",
            )
    if amended.effective_from < previous.effective_from:
        raise refuse(
            FinanceReason.AMENDMENT_CONFLICT,
            f"agreement {previous.agreement_id}: version {amended.version} cannot take effect "
            f"before version {previous.version} ({previous.effective_from.isoformat()})",
        )


def version_in_force(versions: Iterable[FinancingAgreement], on: date) -> FinancingAgreement:
    """The latest version whose effective date is on or before `on`."""
    candidates = [v for v in versions if v.effective_from <= on]
    if not candidates:
        raise refuse(FinanceReason.NOT_IN_FORCE, f"no version of the agreement in force on {on}")
    return max(candidates, key=lambda v: v.version)


# --- recovery arithmetic -------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryPosition:
    """What has been delivered and recovered so far under one agreement."""

    delivered_t: int
    recovered: Money


@dataclass(frozen=True)
class RecoveryEntry:
    """One delivery of credits to the financier and the value it recovered."""

    agreement_id: str
    version: int
    vintage: int
    quantity_t: int
    delivery_date: date
    reference: str
    price_per_t: Money
    value_at_price: Money
    value: Money  # in the agreement's currency
    rate: Decimal | None
    rate_date: date | None
    delivered_after_t: int
    recovered_after: Money
    outstanding_balance: Money
    remaining_t: int
    complete: bool


def remaining_amount(agreement: FinancingAgreement, position: RecoveryPosition) -> Money:
    return (agreement.recovery_target() - position.recovered).at_least_zero()


def remaining_due_t(
    agreement: FinancingAgreement,
    position: RecoveryPosition,
    on: date,
    rates: Iterable[ExchangeRate] = (),
) -> int:
    """Tonnes still owed: the rest of the tranche, or the tonnes whose value covers the
    rest of the amount at the rate in force on `on` (rounded up), whichever is smaller."""
    terms = agreement.terms
    limits: list[int] = []
    if terms.tranche_t is not None:
        limits.append(max(terms.tranche_t - position.delivered_t, 0))
    if terms.recovery_amount is not None:
        rest = remaining_amount(agreement, position)
        if rest.amount == 0:
            limits.append(0)
        else:
            rest_at_price = convert(rest, terms.price_per_t.currency, on, rates).result
            tonnes = (rest_at_price.amount / terms.price_per_t.amount).to_integral_value(
                rounding=ROUND_CEILING
            )
            limits.append(int(tonnes))
    return min(limits)


def financier_due_t(
    agreement: FinancingAgreement,
    position: RecoveryPosition,
    available_t: int,
    on: date,
    rates: Iterable[ExchangeRate] = (),
    available_before_t: int | None = None,
) -> int:
    """Tonnes the financier is due from an issuance of which `available_t` is offered.

    `available_t` is what the allocation makes available to the financier (the
    issuance, or what is left after the host's share). The financier takes its
    share of it (rounded down; all of it when the terms name no share), never
    more than it is still owed. When `available_before_t` (what earlier
    issuances offered) is given, the share is taken of the cumulative total,
    floor(cumulative × share) minus what was delivered, so rounding never
    drifts across vintages.
    """
    if not 0 <= available_t <= MAX_TONNES:
        raise refuse(FinanceReason.INVALID_FIELD, f"available_t {available_t} is out of range")
    share = agreement.terms.share_of_issuance
    if share is None:
        offered = available_t
    elif available_before_t is None:
        offered = _floor(Decimal(available_t) * share)
    else:
        cumulative = _floor(Decimal(available_before_t + available_t) * share)
        offered = min(max(cumulative - position.delivered_t, 0), available_t)
    return min(offered, remaining_due_t(agreement, position, on, rates))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def recovery_for_delivery(
    agreement: FinancingAgreement,
    position: RecoveryPosition,
    vintage: int,
    quantity_t: int,
    delivery_date: date,
    reference: str,
    rates: Iterable[ExchangeRate] = (),
) -> RecoveryEntry:
    """Value a delivery of `quantity_t` credits and the position after it.

    Refuses a delivery outside the agreement's vintages or dates, or one that
    exceeds what is still owed.
    """
    rates = tuple(rates)
    if not isinstance(quantity_t, int) or not 0 < quantity_t <= MAX_TONNES:
        raise refuse(FinanceReason.INVALID_FIELD, f"quantity_t {quantity_t!r} must be positive")
    if not agreement.first_vintage <= vintage <= agreement.last_vintage:
        raise refuse(
            FinanceReason.VINTAGE_OUTSIDE_AGREEMENT,
            f"vintage {vintage} lies outside agreement {agreement.agreement_id} "
            f"({agreement.first_vintage}..{agreement.last_vintage})",
        )
    if delivery_date < agreement.effective_from:
        raise refuse(
            FinanceReason.NOT_IN_FORCE,
            f"agreement {agreement.agreement_id} v{agreement.version} takes effect on "
            f"{agreement.effective_from.isoformat()}, after the delivery",
        )
    if not reference or len(reference) > 200:
        raise refuse(FinanceReason.INVALID_FIELD, "reference must be 1 to 200 characters")
    owed = remaining_due_t(agreement, position, delivery_date, rates)
    if quantity_t > owed:
        raise refuse(
            FinanceReason.OVER_DELIVERY,
            f"agreement {agreement.agreement_id}: {quantity_t:,} t delivered but only "
            f"{owed:,} t still owed",
        )
    price = agreement.terms.price_per_t
    at_price = price.times(quantity_t)
    conversion = convert(at_price, agreement.currency, delivery_date, rates)
    after = RecoveryPosition(
        position.delivered_t + quantity_t, position.recovered + conversion.result
    )
    remaining_t = remaining_due_t(agreement, after, delivery_date, rates)
    return RecoveryEntry(
        agreement_id=agreement.agreement_id,
        version=agreement.version,
        vintage=vintage,
        quantity_t=quantity_t,
        delivery_date=delivery_date,
        reference=reference,
        price_per_t=price,
        value_at_price=at_price,
        value=conversion.result,
        rate=conversion.rate,
        rate_date=conversion.rate_date,
        delivered_after_t=after.delivered_t,
        recovered_after=after.recovered,
        outstanding_balance=remaining_amount(agreement, after),
        remaining_t=remaining_t,
        complete=remaining_t == 0,
    )


def position_after(entries: Iterable[RecoveryEntry], currency: str) -> RecoveryPosition:
    delivered = 0
    recovered = Money.zero(currency)
    for entry in entries:
        delivered += entry.quantity_t
        recovered = recovered + entry.value
    return RecoveryPosition(delivered, recovered)


def check_disbursement(
    agreement: FinancingAgreement, earlier: Iterable[Disbursement], new: Disbursement
) -> None:
    """A disbursement is in the agreement's currency and never exceeds the commitment."""
    if new.amount.currency != agreement.currency or new.amount.amount <= 0:
        raise refuse(
            FinanceReason.CURRENCY_MISMATCH
            if new.amount.currency != agreement.currency
            else FinanceReason.INVALID_FIELD,
            f"disbursement {new.disbursement_id}: must be a positive amount "
            f"in {agreement.currency}",
        )
    if new.amount.rounded() != new.amount:
        raise refuse(
            FinanceReason.INVALID_FIELD,
            f"disbursement {new.disbursement_id}: more decimals than {agreement.currency} allows",
        )
    paid = total((d.amount for d in earlier), agreement.currency) + new.amount
    if paid.amount > agreement.committed.amount:
        raise refuse(
            FinanceReason.OVER_DISBURSEMENT,
            f"disbursement {new.disbursement_id}: {paid} paid in all would exceed the "
            f"commitment of {agreement.committed}",
        )
