"""Corresponding adjustments: NDCs, inventories and the emissions balance.

For a Party P and year t (decision 2/CMA.3 annex, paras 7-9 and 12):

    EB_t = E_t + FT_t - U_t

`E_t` is the emissions covered by the NDC, from the Party's inventory; `FT_t`
the ITMOs P authorized and first transferred, attributed to year t by vintage
(the common reading) or by the year of the first transfer; `U_t` the ITMOs P
used towards its NDC for calendar year t. Acquiring ITMOs does not change the
balance; using them does.

How the balance is compared with the NDC depends on the method the Party chose
in its initial report and keeps for the whole implementation period:

- trajectory / budget: adjust every year and compare with the indicative
  trajectory `T_t` (or the budget summed over the period);
- averaging (single-year NDCs): `EB_target = E_target + avgFT - avgU`, with the
  averages taken over the `k` elapsed years of the period (`N` at its end), so
  a report in the middle of the period shows indicative interim figures;
- multi-year: every year's balance, and their sum against the budget.

For a non-GHG metric where more is better (a share of renewables, say) the
adjustment flips sign: first transfers lower the indicator and uses raise it,
and the NDC must state its conversion factor to tCO2e.

Everything here is pure: the flows come from registry events, the inventory
from an import, and nothing reads a clock or a file. Tonnes are integers;
averages, which are not whole tonnes, are `Decimal`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any


class Method(StrEnum):
    TRAJECTORY = "trajectory"
    BUDGET = "budget"
    AVERAGING = "averaging"
    MULTI_YEAR = "multi-year"


class Attribution(StrEnum):
    """Which year a first transfer adds to: its vintage, or the year it happened."""

    VINTAGE = "vintage"
    ACTION_YEAR = "action_year"


class NdcError(ValueError):
    """An NDC definition that cannot be used for accounting; the message names the field."""


@dataclass(frozen=True)
class Ndc:
    """One version of a Party's NDC, as quantified in its initial report.

    `trajectory_t` is the indicative trajectory (or, for a budget, the annual
    shares of it) per year of the implementation period; `budget_t` is the
    period total a multi-year NDC is measured against.
    """

    party: str
    version: int
    period_start: int
    period_end: int
    single_year: bool
    target_year: int
    metric: str
    base_year: int
    base_value_t: int
    target_value_t: int
    method: Method
    trajectory_t: Mapping[int, int] = field(default_factory=dict)
    budget_t: int | None = None
    attribution: Attribution = Attribution.VINTAGE
    description: str = ""
    more_is_better: bool = False
    conversion_factor_t: Decimal | None = None

    @property
    def sign(self) -> int:
        """+1 for emissions; -1 for a non-GHG indicator where more is better, so that
        first transferring lowers it and using raises it."""
        return -1 if self.metric == "non-GHG" and self.more_is_better else 1

    @property
    def years(self) -> range:
        return range(self.period_start, self.period_end + 1)

    @property
    def period_length(self) -> int:
        return self.period_end - self.period_start + 1


def validate_ndc(ndc: Ndc) -> Ndc:
    """Refuse an NDC whose method cannot be applied as the decision describes."""
    if len(ndc.party) != 3 or not ndc.party.isalpha() or not ndc.party.isupper():
        raise NdcError(f"party {ndc.party!r} must be an ISO alpha-3 code")
    if ndc.version < 1:
        raise NdcError("version must be 1 or more")
    if ndc.period_start > ndc.period_end:
        raise NdcError(f"implementation period {ndc.period_start}-{ndc.period_end} is reversed")
    if not ndc.period_start <= ndc.target_year <= ndc.period_end:
        raise NdcError(f"target year {ndc.target_year} is outside the implementation period")
    if ndc.metric not in {"GHG", "non-GHG"}:
        raise NdcError(f"metric {ndc.metric!r} must be GHG or non-GHG")
    if ndc.base_value_t < 0 or ndc.target_value_t < 0:
        raise NdcError("base and target values are emissions in tonnes and cannot be negative")
    if ndc.metric == "non-GHG" and (
        ndc.conversion_factor_t is None or ndc.conversion_factor_t <= 0
    ):
        raise NdcError("a non-GHG NDC must give its positive conversion factor to t CO2 eq")
    if ndc.method is Method.AVERAGING and not ndc.single_year:
        raise NdcError("the averaging method applies to single-year NDCs only")
    if ndc.method is Method.MULTI_YEAR and ndc.single_year:
        raise NdcError("the multi-year method applies to multi-year NDCs only")
    if ndc.method in {Method.TRAJECTORY, Method.BUDGET, Method.MULTI_YEAR}:
        missing = [y for y in ndc.years if y not in ndc.trajectory_t]
        if missing:
            raise NdcError(f"method {ndc.method.value} needs a trajectory value for {missing}")
    if ndc.method in {Method.BUDGET, Method.MULTI_YEAR} and ndc.budget_t is None:
        raise NdcError(f"method {ndc.method.value} needs a budget for the period")
    return ndc


def linear_trajectory(
    base_year: int, base_value_t: int, target_year: int, target_value_t: int, years: Iterable[int]
) -> dict[int, int]:
    """Straight line from the base-year value to the target, rounded to whole tonnes.

    Korea's 727.6 Mt (2018) to 436.6 Mt (2030) gives T_t = 727.6 - 24.25 (t - 2018) Mt.
    """
    if target_year == base_year:
        raise NdcError("a trajectory needs a target year after the base year")
    slope = Decimal(target_value_t - base_value_t) / Decimal(target_year - base_year)
    return {
        year: int((base_value_t + slope * (year - base_year)).to_integral_value(ROUND_HALF_EVEN))
        for year in years
    }


@dataclass(frozen=True)
class FirstTransferFlow:
    """ITMOs a Party authorized and first transferred (for NDC use or OIMP)."""

    vintage: int
    action_year: int
    quantity_t: int
    purpose: str
    source_seq: int


@dataclass(frozen=True)
class UseFlow:
    """ITMOs a Party used towards its NDC for a calendar year."""

    use_year: int
    action_year: int
    quantity_t: int
    source_seq: int


@dataclass(frozen=True)
class BalanceYear:
    year: int
    emissions_t: int | None
    first_transfers_t: int
    uses_t: int
    trajectory_t: int | None
    sign: int = 1

    @property
    def balance_t(self) -> int | None:
        """EB_t, or None while the inventory for the year is not yet available."""
        if self.emissions_t is None:
            return None
        return self.emissions_t + self.sign * (self.first_transfers_t - self.uses_t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "emissions_t": self.emissions_t,
            "first_transfers_t": self.first_transfers_t,
            "uses_t": self.uses_t,
            "balance_t": self.balance_t,
            "trajectory_t": self.trajectory_t,
        }


@dataclass(frozen=True)
class Balance:
    """The emissions balance of one NDC period as known in `reported_year`."""

    party: str
    ndc_version: int
    method: Method
    attribution: Attribution
    reported_year: int
    years: tuple[BalanceYear, ...]
    elapsed_years: int
    average_first_transfers_t: Decimal | None
    average_uses_t: Decimal | None
    target_year_balance_t: Decimal | None
    period_balance_t: int | None
    target_t: int
    budget_t: int | None
    achieved: bool | None

    def year(self, year: int) -> BalanceYear:
        for row in self.years:
            if row.year == year:
                return row
        raise KeyError(year)

    def to_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "party": self.party,
            "ndc_version": self.ndc_version,
            "method": self.method.value,
            "attribution": self.attribution.value,
            "reported_year": self.reported_year,
            "elapsed_years": self.elapsed_years,
            "years": [row.to_dict() for row in self.years],
            "average_first_transfers_t": text(self.average_first_transfers_t),
            "average_uses_t": text(self.average_uses_t),
            "target_year_balance_t": text(self.target_year_balance_t),
            "period_balance_t": self.period_balance_t,
            "target_t": self.target_t,
            "budget_t": self.budget_t,
            "achieved": self.achieved,
        }


def first_transfers_by_year(
    flows: Iterable[FirstTransferFlow], attribution: Attribution
) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for flow in flows:
        year = flow.vintage if attribution is Attribution.VINTAGE else flow.action_year
        totals[year] += flow.quantity_t
    return dict(totals)


def uses_by_year(flows: Iterable[UseFlow]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for flow in flows:
        totals[flow.use_year] += flow.quantity_t
    return dict(totals)


def compute_balance(
    ndc: Ndc,
    inventory_t: Mapping[int, int],
    first_transfers: Iterable[FirstTransferFlow],
    uses: Iterable[UseFlow],
    reported_year: int,
    attribution: Attribution | None = None,
    known_by_year: int | None = None,
) -> Balance:
    """The balance of `ndc`'s period in a report covering `reported_year`.

    `reported_year` sets the elapsed years `k` of the averaging method. Every
    flow recorded counts (vintage 2026 units first transferred in 2027 still
    add to 2026), unless `known_by_year` leaves out actions of later years, as
    the AEF of that year saw them.
    """
    chosen = attribution or ndc.attribution
    last = known_by_year if known_by_year is not None else 10_000
    known_ft = [f for f in first_transfers if f.action_year <= last]
    known_u = [u for u in uses if u.action_year <= last]
    ft = first_transfers_by_year(known_ft, chosen)
    used = uses_by_year(known_u)
    rows = tuple(
        BalanceYear(
            year=year,
            emissions_t=inventory_t.get(year),
            first_transfers_t=ft.get(year, 0),
            uses_t=used.get(year, 0),
            trajectory_t=ndc.trajectory_t.get(year),
            sign=ndc.sign,
        )
        for year in ndc.years
    )
    elapsed = max(0, min(reported_year, ndc.period_end) - ndc.period_start + 1)
    average_ft = average_u = target_balance = None
    period_balance = None
    if ndc.method is Method.AVERAGING:
        if elapsed:
            elapsed_rows = rows[:elapsed]
            average_ft = Decimal(sum(r.first_transfers_t for r in elapsed_rows)) / elapsed
            average_u = Decimal(sum(r.uses_t for r in elapsed_rows)) / elapsed
            emissions = inventory_t.get(ndc.target_year)
            if emissions is not None:
                target_balance = emissions + ndc.sign * (average_ft - average_u)
    else:
        target_row = next(r for r in rows if r.year == ndc.target_year)
        if target_row.balance_t is not None:
            target_balance = Decimal(target_row.balance_t)
        balances = [r.balance_t for r in rows]
        if all(b is not None for b in balances):
            period_balance = sum(b for b in balances if b is not None)
    return Balance(
        party=ndc.party,
        ndc_version=ndc.version,
        method=ndc.method,
        attribution=chosen,
        reported_year=reported_year,
        years=rows,
        elapsed_years=elapsed,
        average_first_transfers_t=average_ft,
        average_uses_t=average_u,
        target_year_balance_t=target_balance,
        period_balance_t=period_balance,
        target_t=ndc.target_value_t,
        budget_t=ndc.budget_t,
        achieved=_achieved(ndc, rows, target_balance, period_balance),
    )


def _achieved(
    ndc: Ndc,
    rows: tuple[BalanceYear, ...],
    target_balance: Decimal | None,
    period_balance: int | None,
) -> bool | None:
    """Whether the NDC is met, once every figure the method compares is known."""
    if ndc.method in {Method.BUDGET, Method.MULTI_YEAR}:
        if period_balance is None or ndc.budget_t is None:
            return None
        if ndc.sign < 0:
            return period_balance >= ndc.budget_t
        return period_balance <= ndc.budget_t
    if target_balance is None:
        return None
    if ndc.sign < 0:
        return target_balance >= ndc.target_value_t
    return target_balance <= ndc.target_value_t


def whole_tonnes(value: Decimal) -> int:
    """An average shown as whole tonnes (half to even), e.g. 80,000 / 6 -> 13,333."""
    return int(value.to_integral_value(ROUND_HALF_EVEN))


# --- encoding, for the journal -------------------------------------------------


def ndc_to_dict(ndc: Ndc) -> dict[str, Any]:
    return {
        "party": ndc.party,
        "version": ndc.version,
        "period_start": ndc.period_start,
        "period_end": ndc.period_end,
        "single_year": ndc.single_year,
        "target_year": ndc.target_year,
        "metric": ndc.metric,
        "base_year": ndc.base_year,
        "base_value_t": ndc.base_value_t,
        "target_value_t": ndc.target_value_t,
        "method": ndc.method.value,
        "trajectory_t": {str(y): v for y, v in sorted(ndc.trajectory_t.items())},
        "budget_t": ndc.budget_t,
        "attribution": ndc.attribution.value,
        "description": ndc.description,
        "more_is_better": ndc.more_is_better,
        "conversion_factor_t": (
            None if ndc.conversion_factor_t is None else str(ndc.conversion_factor_t)
        ),
    }


def ndc_from_dict(data: Mapping[str, Any]) -> Ndc:
    return Ndc(
        party=data["party"],
        version=int(data["version"]),
        period_start=int(data["period_start"]),
        period_end=int(data["period_end"]),
        single_year=bool(data["single_year"]),
        target_year=int(data["target_year"]),
        metric=data["metric"],
        base_year=int(data["base_year"]),
        base_value_t=int(data["base_value_t"]),
        target_value_t=int(data["target_value_t"]),
        method=Method(data["method"]),
        trajectory_t={int(y): int(v) for y, v in data.get("trajectory_t", {}).items()},
        budget_t=None if data.get("budget_t") is None else int(data["budget_t"]),
        attribution=Attribution(data.get("attribution", Attribution.VINTAGE.value)),
        description=data.get("description", ""),
        more_is_better=bool(data.get("more_is_better", False)),
        conversion_factor_t=(
            None
            if data.get("conversion_factor_t") is None
            else Decimal(str(data["conversion_factor_t"]))
        ),
    )
