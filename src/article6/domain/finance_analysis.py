"""What a fund manager reads off a financing agreement: the recovery ledger per
vintage, when recovery will be complete, the programme's NPV and IRR, an early
warning when delivery falls behind plan, and portfolio totals.

The ledger compares, vintage by vintage, the tonnes the agreement plans to
deliver with the tonnes delivered and the money they recovered. Vintages up to
`through_vintage` are *due*: nothing delivered is a missed vintage, less than
planned a partial one. The projection of the rest scales the remaining plan by
the delivery performance so far (delivered ÷ planned over the due vintages),
so a project that delivers 60 % of plan is projected to keep doing so; one
ahead of plan is projected at plan, never counting on more than agreed.

Cash flows, seen from the programme: disbursements are negative, recoveries
positive. Projected recoveries are dated 30 June of the year after their
vintage (verification and issuance take about that long) and valued at the
agreed price and the latest known exchange rate. NPV discounts each flow by
(1 + r) ** (days / 365) from the first flow's date, in Decimal arithmetic,
rounded half-up to the currency's minor unit. IRR is found by bisection on
NPV between -99 % and +1,000 % a year until the bracket is narrower than
1e-12, then rounded half-even to 8 decimal places (a millionth of a percent);
a cash flow that never changes sign has no IRR (None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

from article6.domain.finance import (
    AgreementStatus,
    Disbursement,
    FinancingAgreement,
    RecoveryEntry,
    RecoveryPosition,
    position_after,
    remaining_amount,
    remaining_due_t,
)
from article6.domain.finance_money import (
    ExchangeRate,
    FinanceReason,
    Money,
    convert,
    refuse,
    round_money,
)

IRR_LOW = Decimal("-0.99")
IRR_HIGH = Decimal(10)
IRR_TOLERANCE = Decimal("1e-12")
IRR_MAX_STEPS = 200
IRR_PLACES = Decimal("1e-8")
DAYS_PER_YEAR = Decimal(365)
DEFAULT_WARNING_SHARE = Decimal("0.10")


def projected_delivery_date(vintage: int) -> date:
    return date(vintage + 1, 6, 30)


# --- recovery ledger ------------------------------------------------------------


@dataclass(frozen=True)
class VintageRecovery:
    vintage: int
    expected_t: int
    delivered_t: int
    shortfall_t: int
    value_recovered: Money
    cumulative_expected_t: int
    cumulative_delivered_t: int
    cumulative_recovered: Money
    outstanding_balance: Money
    state: str  # delivered, partial, missed, ahead, pending


def recovery_ledger(
    agreement: FinancingAgreement,
    entries: Sequence[RecoveryEntry],
    through_vintage: int | None,
) -> list[VintageRecovery]:
    """One row per vintage of the agreement; vintages after `through_vintage` are pending."""
    delivered: dict[int, int] = defaultdict(int)
    value: dict[int, Money] = defaultdict(lambda: Money.zero(agreement.currency))
    for entry in entries:
        delivered[entry.vintage] += entry.quantity_t
        value[entry.vintage] = value[entry.vintage] + entry.value
    expected = agreement.expected_by_vintage()
    target = agreement.recovery_target()
    rows = []
    cumulative_expected = cumulative_delivered = 0
    cumulative_value = Money.zero(agreement.currency)
    for vintage in range(agreement.first_vintage, agreement.last_vintage + 1):
        planned, got = expected.get(vintage, 0), delivered[vintage]
        cumulative_expected += planned
        cumulative_delivered += got
        cumulative_value = cumulative_value + value[vintage]
        due = through_vintage is not None and vintage <= through_vintage
        if not due and got == 0:
            state = "pending"
        elif got == 0 and planned > 0:
            state = "missed"
        elif got < planned:
            state = "partial"
        elif got > planned:
            state = "ahead"
        else:
            state = "delivered"
        rows.append(
            VintageRecovery(
                vintage=vintage,
                expected_t=planned,
                delivered_t=got,
                shortfall_t=max(planned - got, 0) if due else 0,
                value_recovered=value[vintage],
                cumulative_expected_t=cumulative_expected,
                cumulative_delivered_t=cumulative_delivered,
                cumulative_recovered=cumulative_value,
                outstanding_balance=(target - cumulative_value).at_least_zero(),
                state=state,
            )
        )
    return rows


def performance_ratio(rows: Sequence[VintageRecovery], through_vintage: int | None) -> Decimal:
    """Delivered ÷ planned over the due vintages; 1 before anything is due."""
    due = [r for r in rows if through_vintage is not None and r.vintage <= through_vintage]
    planned = sum(r.expected_t for r in due)
    if planned == 0:
        return Decimal(1)
    return Decimal(sum(r.delivered_t for r in due)) / Decimal(planned)


def projected_deliveries(
    agreement: FinancingAgreement,
    rows: Sequence[VintageRecovery],
    through_vintage: int | None,
    position: RecoveryPosition,
    on: date,
    rates: Iterable[ExchangeRate] = (),
) -> list[tuple[int, int]]:
    """(vintage, tonnes) still expected after `through_vintage`, scaled by performance
    (at most 1), rounded down, and never more than what is still owed."""
    ratio = min(performance_ratio(rows, through_vintage), Decimal(1))
    owed = remaining_due_t(agreement, position, on, tuple(rates))
    result = []
    for row in rows:
        if (through_vintage is not None and row.vintage <= through_vintage) or owed == 0:
            continue
        if row.delivered_t:
            continue  # already delivered ahead of its turn
        tonnes = int((row.expected_t * ratio).to_integral_value(rounding=ROUND_FLOOR))
        tonnes = min(tonnes, owed)
        if tonnes:
            result.append((row.vintage, tonnes))
            owed -= tonnes
    return result


def projected_completion_year(
    entries: Sequence[RecoveryEntry], projection: Sequence[tuple[int, int]], owed_t: int
) -> int | None:
    """The vintage whose issuance completes recovery: already reached, or by projection.

    None when the projection does not reach the target within the agreement's vintages.
    """
    if owed_t == 0:
        completed = [e.vintage for e in entries if e.complete]
        return max(completed) if completed else max((e.vintage for e in entries), default=None)
    left = owed_t
    for vintage, tonnes in projection:
        left -= tonnes
        if left <= 0:
            return vintage
    return None


# --- cash flows, NPV and IRR ----------------------------------------------------------


@dataclass(frozen=True)
class CashFlow:
    flow_date: date
    amount: Money  # negative: paid out by the programme
    kind: str  # disbursement, scheduled_disbursement, recovery, projected_recovery
    label: str


def programme_cash_flows(
    agreement: FinancingAgreement,
    disbursements: Sequence[Disbursement],
    entries: Sequence[RecoveryEntry],
    projection: Sequence[tuple[int, int]],
    rates: Sequence[ExchangeRate] = (),
) -> list[CashFlow]:
    """Actual and projected flows in the agreement's currency, in date order.

    The part of the disbursement schedule not yet paid (schedule items are
    matched to actual payments in date order) stays as scheduled outflows.
    """
    currency = agreement.currency
    flows = [
        CashFlow(d.disbursement_date, -d.amount, "disbursement", d.disbursement_id)
        for d in disbursements
    ]
    paid = sum((d.amount.amount for d in disbursements), Decimal(0))
    for item in sorted(agreement.disbursement_schedule, key=lambda i: i.due_date):
        covered = min(paid, item.amount.amount)
        paid -= covered
        if item.amount.amount > covered:
            rest = Money(item.amount.amount - covered, currency)
            flows.append(CashFlow(item.due_date, -rest, "scheduled_disbursement", "schedule"))
    flows.extend(
        CashFlow(e.delivery_date, e.value, "recovery", f"vintage {e.vintage}: {e.reference}")
        for e in entries
    )
    latest = max((r.rate_date for r in rates), default=agreement.effective_from)
    price = agreement.terms.price_per_t
    position = position_after(entries, currency)
    for vintage, tonnes in projection:
        value = convert(price.times(tonnes), currency, latest, rates).result
        rest = remaining_amount(agreement, position)
        if agreement.terms.recovery_amount is not None and value.amount > rest.amount:
            value = rest
        position = RecoveryPosition(position.delivered_t + tonnes, position.recovered + value)
        flows.append(
            CashFlow(
                projected_delivery_date(vintage), value, "projected_recovery", f"vintage {vintage}"
            )
        )
    return sorted(flows, key=lambda f: (f.flow_date, f.amount.amount))


def _npv_exact(flows: Sequence[CashFlow], rate: Decimal, start: date) -> Decimal:
    base = Decimal(1) + rate
    result = Decimal(0)
    for flow in flows:
        years = Decimal((flow.flow_date - start).days) / DAYS_PER_YEAR
        result += flow.amount.amount / base**years
    return result


def npv(flows: Sequence[CashFlow], rate: Decimal, start: date | None = None) -> Money:
    """Net present value at the yearly `rate`, discounted to `start` (the first flow)."""
    if not flows:
        raise refuse(FinanceReason.INVALID_FIELD, "NPV needs at least one cash flow")
    if rate <= Decimal(-1):
        raise refuse(FinanceReason.INVALID_FIELD, f"discount rate {rate} must exceed -100 %")
    currency = flows[0].amount.currency
    start = start or min(f.flow_date for f in flows)
    with localcontext() as context:
        context.prec = 34
        value = _npv_exact(flows, rate, start)
    return Money(round_money(value, currency), currency)


def irr(flows: Sequence[CashFlow]) -> Decimal | None:
    """The yearly rate at which NPV is zero, by bisection; None without a sign change."""
    if not flows:
        return None
    start = min(f.flow_date for f in flows)
    with localcontext() as context:
        context.prec = 34
        low, high = IRR_LOW, IRR_HIGH
        npv_low = _npv_exact(flows, low, start)
        npv_high = _npv_exact(flows, high, start)
        if npv_low == 0:
            return low.quantize(IRR_PLACES)
        if npv_high == 0:
            return high.quantize(IRR_PLACES)
        if (npv_low > 0) == (npv_high > 0):
            return None
        for _ in range(IRR_MAX_STEPS):
            middle = (low + high) / 2
            value = _npv_exact(flows, middle, start)
            if value == 0 or high - low < IRR_TOLERANCE:
                low = high = middle
                break
            if (value > 0) == (npv_low > 0):
                low, npv_low = middle, value
            else:
                high = middle
        return ((low + high) / 2).quantize(IRR_PLACES, rounding=ROUND_HALF_EVEN)


# --- early warning ---------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyWarning:
    through_vintage: int
    planned_t: int
    actual_t: int
    behind_share: Decimal
    threshold_share: Decimal
    message: str


def behind_plan(
    planned_by_vintage: Mapping[int, int],
    actual_by_vintage: Mapping[int, int],
    through_vintage: int | None,
    threshold_share: Decimal = DEFAULT_WARNING_SHARE,
    what: str = "delivered",
) -> EarlyWarning | None:
    """A warning when the cumulative actual through `through_vintage` falls behind the
    cumulative plan by more than `threshold_share` of the plan; None otherwise."""
    if not Decimal(0) <= threshold_share < Decimal(1):
        raise refuse(FinanceReason.INVALID_FIELD, "warning threshold must lie in [0, 1)")
    if through_vintage is None:
        return None
    planned = sum(t for v, t in planned_by_vintage.items() if v <= through_vintage)
    actual = sum(t for v, t in actual_by_vintage.items() if v <= through_vintage)
    if planned == 0:
        return None
    behind = (Decimal(planned - actual) / Decimal(planned)).quantize(Decimal("0.0001"))
    if behind <= threshold_share:
        return None
    return EarlyWarning(
        through_vintage=through_vintage,
        planned_t=planned,
        actual_t=actual,
        behind_share=behind,
        threshold_share=threshold_share,
        message=(
            f"{actual:,} t {what} through vintage {through_vintage} against {planned:,} t "
            f"planned: {behind * 100:.1f} % behind (warning above {threshold_share * 100:.1f} %)"
        ),
    )


# --- status and portfolio ------------------------------------------------------------


def agreement_status(
    agreement: FinancingAgreement, position: RecoveryPosition, owed_t: int
) -> AgreementStatus:
    if position.delivered_t > 0 and owed_t == 0:
        return AgreementStatus.RECOVERED
    if position.delivered_t > 0:
        return AgreementStatus.DELIVERING
    if agreement.authorization_id is not None:
        return AgreementStatus.AUTHORIZED
    return AgreementStatus.PIPELINE


@dataclass(frozen=True)
class PortfolioLine:
    """One agreement's figures, all money already in the reporting currency."""

    agreement_id: str
    host_party: str
    sector: str
    status: AgreementStatus
    contracted_t: int
    delivered_t: int
    committed: Money
    disbursed: Money
    recovered: Money
    outstanding: Money
    behind_plan: bool = False  # the early warning is raised


@dataclass(frozen=True)
class PortfolioTotal:
    dimension: str  # host_party, sector, status or all
    key: str
    agreements: int
    contracted_t: int
    delivered_t: int
    pipeline_t: int  # contracted but not yet delivered
    committed: Money
    disbursed: Money
    recovered: Money
    outstanding: Money
    behind_plan: int  # agreements with an early warning


def portfolio_totals(lines: Sequence[PortfolioLine], currency: str) -> list[PortfolioTotal]:
    """Totals overall and by host Party, sector and status, in a stable order."""
    groups: dict[tuple[str, str], list[PortfolioLine]] = defaultdict(list)
    for line in lines:
        groups[("all", "all")].append(line)
        groups[("host_party", line.host_party)].append(line)
        groups[("sector", line.sector)].append(line)
        groups[("status", line.status.value)].append(line)
    order = {"all": 0, "host_party": 1, "sector": 2, "status": 3}
    result = []
    for (dimension, key), members in sorted(groups.items(), key=lambda g: (order[g[0][0]], g[0])):
        contracted = sum(m.contracted_t for m in members)
        delivered = sum(m.delivered_t for m in members)

        def money_sum(name: str, items: list[PortfolioLine] = members) -> Money:
            return Money(sum((getattr(m, name).amount for m in items), Decimal(0)), currency)

        result.append(
            PortfolioTotal(
                dimension=dimension,
                key=key,
                agreements=len(members),
                contracted_t=contracted,
                delivered_t=delivered,
                pipeline_t=max(contracted - delivered, 0),
                committed=money_sum("committed"),
                disbursed=money_sum("disbursed"),
                recovered=money_sum("recovered"),
                outstanding=money_sum("outstanding"),
                behind_plan=sum(1 for m in members if m.behind_plan),
            )
        )
    return result
