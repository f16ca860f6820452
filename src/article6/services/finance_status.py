"""The read side of finance: an agreement's status and the programme's portfolio.

Both are computed from the finance projections as they stood on an `as_of`
date (deliveries, disbursements and exchange rates dated later are ignored),
so a report for a past date is reproducible. `AgreementReport.lines()` gives
the plain text the demo and the command line print.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from article6.domain import finance_codec as fc
from article6.domain.finance import (
    AgreementStatus,
    Disbursement,
    FinancingAgreement,
    RecoveryEntry,
    position_after,
    remaining_due_t,
    version_in_force,
)
from article6.domain.finance_analysis import (
    DEFAULT_WARNING_SHARE,
    CashFlow,
    EarlyWarning,
    PortfolioLine,
    PortfolioTotal,
    VintageRecovery,
    agreement_status,
    behind_plan,
    irr,
    npv,
    performance_ratio,
    portfolio_totals,
    programme_cash_flows,
    projected_completion_year,
    projected_deliveries,
    projected_delivery_date,
    recovery_ledger,
)
from article6.domain.finance_money import ExchangeRate, Money, convert, total
from article6.services import finance
from article6.store.database import read_connection


@dataclass(frozen=True)
class AgreementReport:
    agreement: FinancingAgreement
    versions: int
    as_of: date
    status: AgreementStatus
    disbursed: Money
    undisbursed: Money
    recovery_target: Money
    delivered_t: int
    remaining_t: int
    recovered: Money
    outstanding_balance: Money
    through_vintage: int | None
    ledger: list[VintageRecovery]
    performance: Decimal
    projection: list[tuple[int, int]]
    projected_shortfall_t: int
    completion_year: int | None
    npv: Money | None
    irr: Decimal | None
    warning: EarlyWarning | None
    cash_flows: list[CashFlow]
    entries: list[RecoveryEntry]
    disbursements: list[Disbursement]

    def to_dict(self) -> dict[str, Any]:
        a = self.agreement
        return {
            "agreement": fc.agreement_to_dict(a),
            "versions": self.versions,
            "as_of": self.as_of.isoformat(),
            "status": self.status.value,
            "committed": a.committed.to_dict(),
            "disbursed": self.disbursed.to_dict(),
            "undisbursed": self.undisbursed.to_dict(),
            "recovery_target": self.recovery_target.to_dict(),
            "delivered_t": self.delivered_t,
            "remaining_t": self.remaining_t,
            "recovered": self.recovered.to_dict(),
            "outstanding_balance": self.outstanding_balance.to_dict(),
            "through_vintage": self.through_vintage,
            "performance": str(self.performance),
            "projected_completion_year": self.completion_year,
            "projected_shortfall_t": self.projected_shortfall_t,
            "npv": None if self.npv is None else self.npv.to_dict(),
            "discount_rate": None if a.discount_rate is None else str(a.discount_rate),
            "irr": None if self.irr is None else str(self.irr),
            "early_warning": None if self.warning is None else self.warning.message,
            "ledger": [
                {
                    "vintage": r.vintage,
                    "expected_t": r.expected_t,
                    "delivered_t": r.delivered_t,
                    "shortfall_t": r.shortfall_t,
                    "value_recovered": r.value_recovered.to_dict(),
                    "cumulative_delivered_t": r.cumulative_delivered_t,
                    "cumulative_recovered": r.cumulative_recovered.to_dict(),
                    "outstanding_balance": r.outstanding_balance.to_dict(),
                    "state": r.state,
                }
                for r in self.ledger
            ],
            "projection": [{"vintage": v, "quantity_t": t} for v, t in self.projection],
            "deliveries": [fc.entry_to_dict(e) for e in self.entries],
            "disbursements": [fc.disbursement_to_dict(d) for d in self.disbursements],
            "cash_flows": [
                {
                    "date": f.flow_date.isoformat(),
                    "amount": f.amount.to_dict(),
                    "kind": f.kind,
                    "label": f.label,
                }
                for f in self.cash_flows
            ],
        }

    def lines(self) -> list[str]:
        """The status as plain text, ready to print."""
        a = self.agreement
        terms = a.terms
        tranche = f"{terms.tranche_t:,} t" if terms.tranche_t is not None else "no tranche"
        completion = (
            str(self.completion_year)
            if self.completion_year is not None
            else f"not within the crediting period ({self.projected_shortfall_t:,} t short)"
        )
        out = [
            f"Financing agreement {a.agreement_id} v{a.version} ({self.status.value}), "
            f"as of {self.as_of.isoformat()}",
            f"  {a.financier_name or a.financier_id} finances {a.recipient}: {a.project_name} "
            f"({a.host_party}, {a.sector})",
            f"  Terms: {terms.mode.value}, {tranche} at {terms.price_per_t} per t; "
            f"recovery target {self.recovery_target}; delivered to {a.delivery_account}",
            f"  Committed {a.committed}; disbursed {self.disbursed}; "
            f"undisbursed {self.undisbursed}",
            f"  Delivered {self.delivered_t:,} t; recovered {self.recovered}; "
            f"outstanding {self.outstanding_balance} ({self.remaining_t:,} t still due)",
            f"  Delivery performance {self.performance * 100:.1f} % of plan; "
            f"projected completion: {completion}",
        ]
        if self.npv is not None:
            out.append(f"  NPV at {a.discount_rate} a year: {self.npv}")
        out.append(
            "  IRR: " + ("none (no sign change)" if self.irr is None else f"{self.irr * 100:.4f} %")
        )
        if self.warning is not None:
            out.append(f"  EARLY WARNING: {self.warning.message}")
        out.append("  Vintage  Expected t  Delivered t  Shortfall t  Value recovered  State")
        for r in self.ledger:
            out.append(
                f"  {r.vintage:>7}  {r.expected_t:>10,}  {r.delivered_t:>11,}  "
                f"{r.shortfall_t:>11,}  {r.value_recovered!s:>15}  {r.state}"
            )
        return out


def _dated(rates: list[ExchangeRate], as_of: date) -> list[ExchangeRate]:
    return [r for r in rates if r.rate_date <= as_of]


def agreement_report(
    engine: Engine,
    agreement_id: str,
    as_of: date,
    through_vintage: int | None = None,
    warning_share: Decimal = DEFAULT_WARNING_SHARE,
) -> AgreementReport:
    """Status, recovery ledger, projection, NPV/IRR and early warning of one agreement.

    `through_vintage` is the last vintage whose issuance is due; by default the
    latest vintage delivered so far or whose expected delivery date (30 June of
    the following year) has passed, whichever is later, so a vintage that never
    arrives shows as missed and raises the early warning.
    """
    with read_connection(engine) as connection:
        versions = finance.agreement_versions(connection, agreement_id)
        if not versions:
            finance.latest_version(connection, agreement_id)  # raises the refusal
        rates = _dated(finance.exchange_rates(connection), as_of)
        entries = [
            e
            for e in finance.recovery_entries(connection, agreement_id)
            if e.delivery_date <= as_of
        ]
        paid = [
            d
            for d in finance.disbursements(connection, agreement_id)
            if d.disbursement_date <= as_of
        ]
    in_force = [v for v in versions if v.effective_from <= as_of]
    agreement = version_in_force(versions, as_of) if in_force else versions[0]
    currency = agreement.currency
    if through_vintage is None:
        overdue = [
            v
            for v in range(agreement.first_vintage, agreement.last_vintage + 1)
            if projected_delivery_date(v) <= as_of
        ]
        candidates = [*(e.vintage for e in entries), *overdue]
        through_vintage = max(candidates) if candidates else None
    held = position_after(entries, currency)
    owed = remaining_due_t(agreement, held, as_of, rates)
    ledger = recovery_ledger(agreement, entries, through_vintage)
    projection = projected_deliveries(agreement, ledger, through_vintage, held, as_of, rates)
    flows = programme_cash_flows(agreement, paid, entries, projection, rates)
    disbursed = total((d.amount for d in paid), currency)
    expected = agreement.expected_by_vintage()
    delivered_by_vintage = {r.vintage: r.delivered_t for r in ledger}
    return AgreementReport(
        agreement=agreement,
        versions=len(versions),
        as_of=as_of,
        status=agreement_status(agreement, held, owed),
        disbursed=disbursed,
        undisbursed=(agreement.committed - disbursed).at_least_zero(),
        recovery_target=agreement.recovery_target(),
        delivered_t=held.delivered_t,
        remaining_t=owed,
        recovered=held.recovered,
        outstanding_balance=(agreement.recovery_target() - held.recovered).at_least_zero(),
        through_vintage=through_vintage,
        ledger=ledger,
        performance=performance_ratio(ledger, through_vintage).quantize(Decimal("0.0001")),
        projection=projection,
        projected_shortfall_t=max(owed - sum(t for _, t in projection), 0),
        completion_year=projected_completion_year(entries, projection, owed),
        npv=(
            None
            if agreement.discount_rate is None or not flows
            else npv(flows, agreement.discount_rate)
        ),
        irr=irr(flows),
        warning=behind_plan(expected, delivered_by_vintage, through_vintage, warning_share),
        cash_flows=flows,
        entries=entries,
        disbursements=paid,
    )


@dataclass(frozen=True)
class PortfolioReport:
    as_of: date
    currency: str
    lines: list[PortfolioLine]
    totals: list[PortfolioTotal]
    cash_flows: list[CashFlow]
    discount_rate: Decimal | None
    npv: Money | None
    irr: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        def line(item: PortfolioLine | PortfolioTotal) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for name, value in vars(item).items():
                if isinstance(value, Money):
                    values[name] = str(value.amount)
                elif isinstance(value, AgreementStatus):
                    values[name] = value.value
                else:
                    values[name] = value
            return values

        return {
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "agreements": [line(x) for x in self.lines],
            "totals": [line(x) for x in self.totals],
            "discount_rate": None if self.discount_rate is None else str(self.discount_rate),
            "programme_npv": None if self.npv is None else str(self.npv.amount),
            "programme_irr": None if self.irr is None else str(self.irr),
        }


def portfolio(
    engine: Engine, as_of: date, currency: str = "KRW", discount_rate: Decimal | None = None
) -> PortfolioReport:
    """Every agreement's figures in `currency` (at the rates in force on `as_of`), totals
    by host Party, sector and status, and the programme's NPV and IRR over the cash
    flows of all agreements (actual and projected, converted at the same rates)."""
    with read_connection(engine) as connection:
        ids = finance.agreement_ids(connection)
    lines = []
    flows: list[CashFlow] = []
    for agreement_id in ids:
        report = agreement_report(engine, agreement_id, as_of)
        a = report.agreement
        with read_connection(engine) as connection:
            rates = _dated(finance.exchange_rates(connection), as_of)

        def into(amount: Money, rates: list[ExchangeRate] = rates) -> Money:
            return convert(amount, currency, as_of, rates).result

        contracted = a.terms.tranche_t
        if contracted is None:
            contracted = sum(t for _, t in a.expected_delivery_t) or report.delivered_t
        lines.append(
            PortfolioLine(
                agreement_id=a.agreement_id,
                host_party=a.host_party,
                sector=a.sector,
                status=report.status,
                contracted_t=contracted,
                delivered_t=report.delivered_t,
                committed=into(a.committed),
                disbursed=into(report.disbursed),
                recovered=into(report.recovered),
                outstanding=into(report.outstanding_balance),
                behind_plan=report.warning is not None,
            )
        )
        flows.extend(replace(f, amount=into(f.amount)) for f in report.cash_flows)
    flows.sort(key=lambda f: (f.flow_date, f.amount.amount))
    return PortfolioReport(
        as_of=as_of,
        currency=currency,
        lines=lines,
        totals=portfolio_totals(lines, currency),
        cash_flows=flows,
        discount_rate=discount_rate,
        npv=None if discount_rate is None or not flows else npv(flows, discount_rate),
        irr=irr(flows),
    )
