"""Ex-ante projection of emission reductions: central case, sensitivity, Monte Carlo.

Before monitoring data exists, the project's expected reductions per vintage
follow from a rollout plan and a parameter set through the same methodology
equations (E3-E7) that later credit the real data. On Cambodia's grid the
reductions per km are the small difference between two large numbers
(gasoline avoided minus grid electricity used), so the projection must show
which assumption moves the total most (sensitivity table) and how likely the
promised volumes are (Monte Carlo: systematic multipliers drawn once per run
from triangular distributions over each driver's low/high range, plus
year-to-year mileage noise). The per-vintage quantile curves feed delivery
risk in finance: how many tonnes Korea can expect by each vintage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from article6.mrv.methodology import (
    baseline_emissions_t,
    emission_reductions,
    loss_multiplier,
    project_emissions_t,
    vintage_baseline_ef_g_per_km,
)
from article6.mrv.params import ParameterSet
from article6.mrv.rollout_plan import DEFAULT_KOREA_T, DEFAULT_TARGET_T, DRIVERS, RolloutPlan

QUANTILE_LEVELS = (0.1, 0.5, 0.9)
YEARLY_MILEAGE_SD = 0.05
MAX_TDL = 0.95
MAX_RUNS = 1_000_000
RUN_BATCH = 2_000

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class VintageProjection:
    """Expected figures of one vintage in the central case."""

    vintage: int
    vehicles_year_end: float
    vehicle_years: float
    distance_km: float
    station_energy_kwh: float
    be_t: float
    pe_t: float
    er_t: float
    cap_excess_t: float
    issued_t: int


@dataclass(frozen=True)
class SensitivityRow:
    """Total issued tonnes with one driver at its low and at its high multiplier."""

    driver: str
    low_multiplier: float
    high_multiplier: float
    total_at_low_t: int
    total_at_high_t: int

    @property
    def swing_t(self) -> int:
        return abs(self.total_at_high_t - self.total_at_low_t)


@dataclass(frozen=True)
class DeliveryCurves:
    """Per-vintage quantiles over Monte Carlo runs; rows follow `levels`.

    `issued_t` holds the quantiles of each vintage's issuance, `cumulative_t`
    those of issuance up to and including the vintage, `korea_cumulative_t`
    the acquiring Party's share of it. `totals_t` keeps every run's total so a
    caller can compute any other statistic.
    """

    vintages: NDArray[np.int64]
    levels: tuple[float, ...]
    issued_t: NDArray[np.float64]
    cumulative_t: NDArray[np.float64]
    korea_cumulative_t: NDArray[np.float64]
    totals_t: NDArray[np.float64]


@dataclass(frozen=True)
class MonteCarloResult:
    """Distribution of total issuance and the chances of meeting the promises."""

    runs: int
    seed: int
    total_p10_t: float
    total_p50_t: float
    total_p90_t: float
    target_t: float
    korea_t: float
    korea_share: float
    probability_target: float
    probability_korea: float
    curves: DeliveryCurves


def _vintage_arrays(
    plan: RolloutPlan,
    params: ParameterSet,
    multipliers: Mapping[str, NDArray[np.float64]],
    mileage_noise: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:
    """BE, PE and activity per (run, vintage) for a batch of multiplier draws.

    Arrays have shape (runs, vintages). The methodology functions are written
    for scalars but are plain arithmetic, so they apply element-wise here; the
    loss multiplier has a domain check and is evaluated per distinct value.
    """
    runs = mileage_noise.shape[0]
    years = plan.years
    shape = (runs, len(years))
    out = {
        name: np.zeros(shape)
        for name in ("be", "pe", "distance", "energy", "vehicle_years", "vehicles_end")
    }
    ones = np.ones(runs)
    rollout = multipliers.get("rollout", ones)
    tdl_multiplier = multipliers.get("losses", ones)
    for segment in plan.segments:
        category = params.category(segment.category)
        stock = np.zeros(runs)
        for column, year in enumerate(years):
            added = segment.added_in(year) * rollout
            attrition = segment.annual_attrition
            vehicle_years = stock * (1.0 - attrition / 2.0) + added * 0.5
            stock = stock * (1.0 - attrition) + added * (1.0 - attrition / 2.0)
            distance = (
                vehicle_years
                * segment.annual_km
                * multipliers.get("mileage", ones)
                * mileage_noise[:, column]
            )
            ef_bl = vintage_baseline_ef_g_per_km(params, segment.category, year) * multipliers.get(
                "baseline_fuel", ones
            )
            be = baseline_emissions_t(ef_bl, distance, category.displacement_ratio)  # type: ignore[arg-type]
            sec = segment.station_kwh_per_km * multipliers.get("consumption", ones)
            metered_kwh = distance * (1.0 - segment.share_unmetered) * sec
            grid_kwh = metered_kwh * (1.0 - segment.share_solar)
            ef_grid = params.ef_grid_t_per_mwh(year) * multipliers.get("grid_factor", ones)
            tdl = np.minimum(params.tdl(year) * tdl_multiplier, MAX_TDL)
            distinct, inverse = np.unique(tdl, return_inverse=True)
            loss = np.asarray([loss_multiplier(float(x), params.tdl_form) for x in distinct])
            pe = project_emissions_t(
                grid_kwh,  # type: ignore[arg-type]
                ef_grid,  # type: ignore[arg-type]
                loss[inverse],  # type: ignore[arg-type]
                unmetered_distance_km=distance * segment.share_unmetered,  # type: ignore[arg-type]
                sec_plug_kwh_per_km=sec,  # type: ignore[arg-type]
            )
            out["be"][:, column] += be
            out["pe"][:, column] += pe
            out["distance"][:, column] += distance
            out["energy"][:, column] += metered_kwh + distance * segment.share_unmetered * sec
            out["vehicle_years"][:, column] += vehicle_years
            out["vehicles_end"][:, column] += stock
    return out


def _issue(
    plan: RolloutPlan, params: ParameterSet, be: NDArray[np.float64], pe: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """(E6, E7) per run and vintage: ER, cap excess and whole issued tonnes."""
    er = np.zeros(be.shape)
    excess = np.zeros(be.shape)
    issued = np.zeros(be.shape, dtype=np.int64)
    for column, year in enumerate(plan.years):
        if not params.in_crediting_period(year):
            continue
        for run in range(be.shape[0]):
            result = emission_reductions(
                float(be[run, column]),
                float(pe[run, column]),
                params.leakage_t,
                params.small_scale_cap_t,
            )
            er[run, column] = result.er_t
            excess[run, column] = result.cap_excess_t
            issued[run, column] = result.issued_t
    return er, excess, issued


def central_case(plan: RolloutPlan, params: ParameterSet) -> list[VintageProjection]:
    """Expected reductions per vintage with every assumption at its central value."""
    arrays = _vintage_arrays(plan, params, {}, np.ones((1, len(plan.years))))
    er, excess, issued = _issue(plan, params, arrays["be"], arrays["pe"])
    return [
        VintageProjection(
            vintage=year,
            vehicles_year_end=float(arrays["vehicles_end"][0, column]),
            vehicle_years=float(arrays["vehicle_years"][0, column]),
            distance_km=float(arrays["distance"][0, column]),
            station_energy_kwh=float(arrays["energy"][0, column]),
            be_t=float(arrays["be"][0, column]),
            pe_t=float(arrays["pe"][0, column]),
            er_t=float(er[0, column]),
            cap_excess_t=float(excess[0, column]),
            issued_t=int(issued[0, column]),
        )
        for column, year in enumerate(plan.years)
    ]


def sensitivity(plan: RolloutPlan, params: ParameterSet) -> list[SensitivityRow]:
    """Total issuance with each driver alone at its low and high multiplier."""
    drivers = [d for d in (*DRIVERS, "rollout") if plan.range_of(d) != (1.0, 1.0) or d in DRIVERS]
    rows = []
    for driver in drivers:
        low, high = plan.range_of(driver)
        multipliers = {driver: np.asarray([low, high])}
        arrays = _vintage_arrays(plan, params, multipliers, np.ones((2, len(plan.years))))
        _, _, issued = _issue(plan, params, arrays["be"], arrays["pe"])
        totals = issued.sum(axis=1)
        rows.append(SensitivityRow(driver, low, high, int(totals[0]), int(totals[1])))
    return sorted(rows, key=lambda row: row.swing_t, reverse=True)


def draw_multipliers(
    plan: RolloutPlan, rng: np.random.Generator, runs: int
) -> dict[str, NDArray[np.float64]]:
    """One systematic multiplier per driver and run, triangular over [low, 1, high]."""
    draws: dict[str, NDArray[np.float64]] = {}
    for driver in (*DRIVERS, "rollout"):
        low, high = plan.range_of(driver)
        if low == high:
            draws[driver] = np.full(runs, low)
        else:
            draws[driver] = rng.triangular(low, 1.0, high, size=runs)
    return draws


def monte_carlo(
    plan: RolloutPlan,
    params: ParameterSet,
    runs: int,
    seed: int = 0,
    target_t: float = DEFAULT_TARGET_T,
    korea_t: float = DEFAULT_KOREA_T,
    korea_share: float | None = None,
    progress: ProgressCallback | None = None,
) -> MonteCarloResult:
    """Simulate `runs` futures; the same seed gives the same result.

    The acquiring Party receives `korea_share` of every issuance (by default
    `korea_t / target_t`, the split the authorization was negotiated on), so
    delivering `korea_t` needs a total of `korea_t / korea_share`.
    """
    if not 1 <= runs <= MAX_RUNS:
        raise ValueError(f"runs must lie in 1..{MAX_RUNS}, got {runs}")
    if target_t <= 0 or korea_t <= 0:
        raise ValueError("target and Korea volumes must be positive")
    share = korea_t / target_t if korea_share is None else korea_share
    if not 0 < share <= 1:
        raise ValueError(f"Korea share must lie in (0, 1], got {share}")
    rng = np.random.default_rng(seed)
    multipliers = draw_multipliers(plan, rng, runs)
    noise = rng.lognormal(-(YEARLY_MILEAGE_SD**2) / 2, YEARLY_MILEAGE_SD, (runs, len(plan.years)))
    issued = np.zeros((runs, len(plan.years)), dtype=np.int64)
    for first in range(0, runs, RUN_BATCH):
        last = min(first + RUN_BATCH, runs)
        batch = {name: values[first:last] for name, values in multipliers.items()}
        arrays = _vintage_arrays(plan, params, batch, noise[first:last])
        issued[first:last] = _issue(plan, params, arrays["be"], arrays["pe"])[2]
        if progress is not None:
            progress(last, runs)
    cumulative = np.cumsum(issued, axis=1).astype(np.float64)
    totals = cumulative[:, -1].copy()
    levels = np.asarray(QUANTILE_LEVELS)
    curves = DeliveryCurves(
        vintages=np.asarray(plan.years, dtype=np.int64),
        levels=QUANTILE_LEVELS,
        issued_t=np.quantile(issued.astype(np.float64), levels, axis=0),
        cumulative_t=np.quantile(cumulative, levels, axis=0),
        korea_cumulative_t=np.floor(np.quantile(cumulative * share, levels, axis=0)),
        totals_t=totals,
    )
    p10, p50, p90 = np.quantile(totals, levels)
    return MonteCarloResult(
        runs=runs,
        seed=seed,
        total_p10_t=float(p10),
        total_p50_t=float(p50),
        total_p90_t=float(p90),
        target_t=target_t,
        korea_t=korea_t,
        korea_share=share,
        probability_target=float(np.mean(totals >= target_t)),
        probability_korea=float(np.mean(np.floor(totals * share) >= korea_t)),
        curves=curves,
    )


def delivery_curves(
    plan: RolloutPlan,
    params: ParameterSet,
    runs: int,
    seed: int = 0,
    korea_share: float = DEFAULT_KOREA_T / DEFAULT_TARGET_T,
) -> DeliveryCurves:
    """Per-vintage P10/P50/P90 issuance and delivery arrays plus every run's total."""
    return monte_carlo(plan, params, runs, seed, korea_share=korea_share).curves
