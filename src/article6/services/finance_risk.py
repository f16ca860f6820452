"""Delivery risk of a financing agreement, from the MRV ex-ante Monte Carlo.

The projection simulates many futures of the project's issuance. The
financier receives `share` of each issuance (what the allocation makes
available to it: the terms' share, or by default the planned deliveries as a
part of the central-case issuance) until what it is owed is delivered. For
each simulated future that gives the tonnes delivered by each vintage, so:

- the probability of full recovery by the end of the crediting period: the
  part of the runs whose total delivery reaches what is owed;
- the expected shortfall: the mean tonnes (and their value) missing at the
  end, over all runs, and the mean over the worst 10 % of runs (the tail);
- P10/P50/P90 delivery curves: the quantiles of cumulative issuance per
  vintage, turned into deliveries the same way (a monotone map, so quantiles
  carry over);
- the early warning the plan should expect: the first vintage where the P50
  curve falls behind the planned deliveries by more than the threshold; and,
  from the registry, whether verified issuance already falls behind the
  central case.

Floats stay inside this simulation; tonnes reported are whole (rounded
down), money is converted back to `Decimal` at the agreed price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from article6.domain.finance_analysis import (
    DEFAULT_WARNING_SHARE,
    EarlyWarning,
    behind_plan,
)
from article6.domain.finance_money import FinanceReason, Money, refuse
from article6.mrv.params import ParameterSet
from article6.mrv.projection import central_case, monte_carlo
from article6.mrv.rollout_plan import RolloutPlan
from article6.services.finance_status import AgreementReport
from article6.store import tables as t
from article6.store.database import read_connection

TAIL_SHARE = 0.10


@dataclass(frozen=True)
class DeliveryRisk:
    agreement_id: str
    runs: int
    seed: int
    share: Decimal
    owed_t: int
    vintages: list[int]
    levels: tuple[float, ...]
    delivery_curves_t: dict[str, list[int]]  # "P10", "P50", "P90": cumulative per vintage
    planned_cumulative_t: list[int]
    central_issuance_t: list[int]
    probability_full_recovery: float
    expected_shortfall_t: float
    tail_shortfall_t: float
    expected_shortfall_value: Money
    p50_warning: EarlyWarning | None
    issuance_warning: EarlyWarning | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "runs": self.runs,
            "seed": self.seed,
            "share_of_issuance": str(self.share),
            "owed_t": self.owed_t,
            "probability_full_recovery": self.probability_full_recovery,
            "expected_shortfall_t": self.expected_shortfall_t,
            "tail_shortfall_t": self.tail_shortfall_t,
            "expected_shortfall_value": self.expected_shortfall_value.to_dict(),
            "p50_warning": None if self.p50_warning is None else self.p50_warning.message,
            "issuance_warning": (
                None if self.issuance_warning is None else self.issuance_warning.message
            ),
            "vintages": [
                {
                    "vintage": vintage,
                    "planned_cumulative_t": self.planned_cumulative_t[i],
                    "central_issuance_t": self.central_issuance_t[i],
                    **{
                        f"{k.lower()}_cumulative_t": v[i] for k, v in self.delivery_curves_t.items()
                    },
                }
                for i, vintage in enumerate(self.vintages)
            ],
        }

    def lines(self) -> list[str]:
        value = self.expected_shortfall_value
        out = [
            f"Delivery risk of {self.agreement_id} ({self.runs:,} Monte Carlo runs, seed "
            f"{self.seed}, {self.share * 100:.2f} % of each issuance to the financier)",
            f"  Probability of full recovery by the end of the crediting period: "
            f"{self.probability_full_recovery * 100:.1f} %",
            f"  Expected shortfall: {self.expected_shortfall_t:,.0f} t ({value}); "
            f"worst 10 % of runs: {self.tail_shortfall_t:,.0f} t",
        ]
        if self.p50_warning is not None:
            out.append(f"  P50 curve triggers the early warning: {self.p50_warning.message}")
        if self.issuance_warning is not None:
            out.append(f"  EARLY WARNING (issuance): {self.issuance_warning.message}")
        return out


def verified_issuance_by_vintage(engine: Engine, approach_id: str) -> dict[int, int]:
    """Tonnes issued in the registry per vintage of an approach."""
    with read_connection(engine) as connection:
        rows = connection.execute(
            select(t.issuances.c.vintage, func.sum(t.issuances.c.quantity_t))
            .where(t.issuances.c.approach_id == approach_id)
            .group_by(t.issuances.c.vintage)
        ).all()
    return {int(vintage): int(quantity) for vintage, quantity in rows}


def delivery_risk(
    engine: Engine,
    report: AgreementReport,
    plan: RolloutPlan,
    params: ParameterSet,
    runs: int = 2_000,
    seed: int = 0,
    share: Decimal | None = None,
    warning_share: Decimal = DEFAULT_WARNING_SHARE,
) -> DeliveryRisk:
    """Simulate the remaining deliveries of the agreement in `report`."""
    agreement = report.agreement
    central = central_case(plan, params)
    central_by_vintage = {v.vintage: v.issued_t for v in central}
    central_total = sum(central_by_vintage.values())
    if share is None:
        share = agreement.terms.share_of_issuance
    if share is None:
        planned_total = sum(tonnes for _, tonnes in agreement.expected_delivery_t)
        if planned_total == 0 or central_total == 0:
            raise refuse(
                FinanceReason.INVALID_FIELD,
                f"agreement {agreement.agreement_id}: give the financier's share of issuance "
                "(the agreement has no share and no delivery plan)",
            )
        share = min(Decimal(planned_total) / Decimal(central_total), Decimal(1))
    if not Decimal(0) < share <= Decimal(1):
        raise refuse(FinanceReason.INVALID_FIELD, f"share {share} must lie in (0, 1]")
    owed_t = report.remaining_t + report.delivered_t  # owed at the start of delivery
    result = monte_carlo(plan, params, runs, seed, korea_share=float(share))
    share_f = float(share)
    delivered = np.minimum(np.floor(result.curves.totals_t * share_f), owed_t)
    shortfall = owed_t - delivered
    tail = np.sort(shortfall)[-max(round(runs * TAIL_SHARE), 1) :]
    vintages = [int(v) for v in result.curves.vintages]
    curves = {
        f"P{round(level * 100)}": [
            int(min(np.floor(q * share_f), owed_t)) for q in result.curves.cumulative_t[i]
        ]
        for i, level in enumerate(result.curves.levels)
    }
    expected = agreement.expected_by_vintage()
    planned_cumulative = list(np.cumsum([expected.get(v, 0) for v in vintages]).tolist())
    p50 = curves["P50"]
    p50_by_vintage = {v: p50[j] - (p50[j - 1] if j else 0) for j, v in enumerate(vintages)}
    p50_warning = None
    for vintage in vintages:
        p50_warning = behind_plan(expected, p50_by_vintage, vintage, warning_share, "at P50")
        if p50_warning is not None:
            break
    shortfall_t = float(np.mean(shortfall))
    price = agreement.terms.price_per_t
    issuance_warning = None
    if agreement.approach_id is not None:
        issued = verified_issuance_by_vintage(engine, agreement.approach_id)
        if issued:
            issuance_warning = behind_plan(
                central_by_vintage, issued, max(issued), warning_share, "issued"
            )
    return DeliveryRisk(
        agreement_id=agreement.agreement_id,
        runs=runs,
        seed=seed,
        share=share,
        owed_t=owed_t,
        vintages=vintages,
        levels=result.curves.levels,
        delivery_curves_t=curves,
        planned_cumulative_t=[int(x) for x in planned_cumulative],
        central_issuance_t=[central_by_vintage.get(v, 0) for v in vintages],
        probability_full_recovery=float(np.mean(delivered >= owed_t)),
        expected_shortfall_t=shortfall_t,
        tail_shortfall_t=float(np.mean(tail)),
        expected_shortfall_value=price.times(Decimal(str(round(shortfall_t, 6)))),
        p50_warning=p50_warning,
        issuance_warning=issuance_warning,
    )
