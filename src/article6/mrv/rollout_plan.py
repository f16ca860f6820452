"""Rollout plans: how many vehicles of which kind join the fleet each year.

An ex-ante projection (what the project developer promises before any data
exists) rests on a handful of assumptions: vehicles added per year and
segment, how far they drive, how much energy the stations draw per km, how
much of it comes from on-site solar, and how fast vehicles leave the fleet.
A plan file states them in TOML, one `[segments.<name>]` table per fleet
segment, plus an `[uncertainty]` table of low/high multipliers that drive the
sensitivity table and the Monte Carlo. Unknown or missing keys are errors that
name the key, as for parameter sets.

    [plan]  id, first_year, last_year
    [segments.<name>] category, annual_km, station_kwh_per_km, share_solar,
                      share_unmetered, annual_attrition, additions = {year = count}
    [uncertainty] <driver> = [low, high] multipliers, for every driver in DRIVERS
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What the programme promised: its total over the crediting period, and the
# part of it for Korea's NDC (the defaults of a projection's probabilities).
DEFAULT_TARGET_T = 680_000.0
DEFAULT_KOREA_T = 400_000.0
DRIVERS: tuple[str, ...] = ("grid_factor", "mileage", "baseline_fuel", "consumption", "losses")
OPTIONAL_DRIVERS: tuple[str, ...] = ("rollout",)
SEGMENT_KEYS: tuple[str, ...] = (
    "category",
    "annual_km",
    "station_kwh_per_km",
    "share_solar",
    "share_unmetered",
    "annual_attrition",
    "additions",
)
MAX_YEARS = 50
MAX_VEHICLES_PER_YEAR = 10_000_000


class PlanError(ValueError):
    """A plan file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class Segment:
    """One fleet segment: vehicles that share category, use and charging."""

    name: str
    category: str
    annual_km: float
    station_kwh_per_km: float
    share_solar: float
    share_unmetered: float
    annual_attrition: float
    additions: tuple[tuple[int, int], ...]

    def added_in(self, year: int) -> int:
        return dict(self.additions).get(year, 0)


@dataclass(frozen=True)
class RolloutPlan:
    """A validated plan: years, segments and the uncertainty ranges."""

    plan_id: str
    first_year: int
    last_year: int
    segments: tuple[Segment, ...]
    uncertainty: tuple[tuple[str, float, float], ...]
    description: str = ""

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(range(self.first_year, self.last_year + 1))

    def range_of(self, driver: str) -> tuple[float, float]:
        """Low and high multiplier of a driver; (1, 1) when the plan leaves it out."""
        for name, low, high in self.uncertainty:
            if name == driver:
                return low, high
        return 1.0, 1.0


def load_plan(path: Path | str) -> RolloutPlan:
    """Read and validate a TOML rollout plan."""
    file_path = Path(path)
    try:
        raw = tomllib.loads(file_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f"{file_path}: plan file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{file_path}: invalid TOML: {exc}") from exc
    try:
        return parse_plan(raw)
    except PlanError as exc:
        raise PlanError(f"{file_path}: {exc}") from exc


def parse_plan(raw: dict[str, Any]) -> RolloutPlan:
    """Validate a parsed plan document."""
    for key in raw:
        if key not in ("plan", "segments", "uncertainty"):
            raise PlanError(f"unknown key: {key}")
    head = _table("plan", raw.get("plan"))
    for key in head:
        if key not in ("id", "first_year", "last_year", "description"):
            raise PlanError(f"unknown key: plan.{key}")
    first_year = _integer("plan.first_year", head.get("first_year"))
    last_year = _integer("plan.last_year", head.get("last_year"))
    if not 0 <= last_year - first_year < MAX_YEARS:
        raise PlanError(f"plan.last_year: must lie within {MAX_YEARS} years after first_year")
    segments_raw = _table("segments", raw.get("segments"))
    if not segments_raw:
        raise PlanError("segments: expected at least one [segments.<name>] table")
    segments = tuple(
        _segment(name, segments_raw[name], first_year, last_year) for name in sorted(segments_raw)
    )
    uncertainty_raw = _table("uncertainty", raw.get("uncertainty"))
    uncertainty = []
    for key in uncertainty_raw:
        if key not in DRIVERS + OPTIONAL_DRIVERS:
            raise PlanError(f"unknown key: uncertainty.{key}")
    for driver in DRIVERS + OPTIONAL_DRIVERS:
        if driver not in uncertainty_raw:
            if driver in DRIVERS:
                raise PlanError(f"missing key: uncertainty.{driver}")
            continue
        value = uncertainty_raw[driver]
        if not isinstance(value, list) or len(value) != 2:
            raise PlanError(f"uncertainty.{driver}: expected [low, high] multipliers")
        low = _number(f"uncertainty.{driver}[0]", value[0])
        high = _number(f"uncertainty.{driver}[1]", value[1])
        if not 0 < low <= 1.0 <= high <= 5.0:
            raise PlanError(f"uncertainty.{driver}: need 0 < low <= 1 <= high <= 5")
        uncertainty.append((driver, low, high))
    description = head.get("description", "")
    if not isinstance(description, str):
        raise PlanError("plan.description: expected a string")
    return RolloutPlan(
        plan_id=_text("plan.id", head.get("id")),
        first_year=first_year,
        last_year=last_year,
        segments=segments,
        uncertainty=tuple(uncertainty),
        description=description,
    )


def _segment(name: str, body: Any, first_year: int, last_year: int) -> Segment:
    prefix = f"segments.{name}"
    table = _table(prefix, body)
    for key in table:
        if key not in SEGMENT_KEYS:
            raise PlanError(f"unknown key: {prefix}.{key}")
    for key in SEGMENT_KEYS:
        if key not in table:
            raise PlanError(f"missing key: {prefix}.{key}")
    additions = []
    for year_text, count in _table(f"{prefix}.additions", table["additions"]).items():
        try:
            year = int(year_text)
        except ValueError as exc:
            raise PlanError(f"{prefix}.additions.{year_text}: key must be a year") from exc
        if not first_year <= year <= last_year:
            raise PlanError(f"{prefix}.additions.{year}: outside the plan years")
        vehicles = _integer(f"{prefix}.additions.{year}", count)
        if not 0 <= vehicles <= MAX_VEHICLES_PER_YEAR:
            raise PlanError(f"{prefix}.additions.{year}: must lie in 0..{MAX_VEHICLES_PER_YEAR}")
        additions.append((year, vehicles))
    segment = Segment(
        name=name,
        category=_text(f"{prefix}.category", table["category"]),
        annual_km=_number(f"{prefix}.annual_km", table["annual_km"]),
        station_kwh_per_km=_number(f"{prefix}.station_kwh_per_km", table["station_kwh_per_km"]),
        share_solar=_number(f"{prefix}.share_solar", table["share_solar"]),
        share_unmetered=_number(f"{prefix}.share_unmetered", table["share_unmetered"]),
        annual_attrition=_number(f"{prefix}.annual_attrition", table["annual_attrition"]),
        additions=tuple(sorted(additions)),
    )
    _check_range(f"{prefix}.annual_km", segment.annual_km, 0.0, 150_000.0)
    _check_range(f"{prefix}.station_kwh_per_km", segment.station_kwh_per_km, 0.0, 1.0)
    _check_range(f"{prefix}.share_solar", segment.share_solar, 0.0, 1.0)
    _check_range(f"{prefix}.share_unmetered", segment.share_unmetered, 0.0, 1.0)
    _check_range(f"{prefix}.annual_attrition", segment.annual_attrition, 0.0, 1.0)
    return segment


def _table(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        raise PlanError(f"missing key: {key}")
    if not isinstance(value, dict):
        raise PlanError(f"{key}: expected a table")
    return value


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise PlanError(f"{key}: {value} outside plausible range [{low}, {high}]")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise PlanError(f"{key}: must be finite")
    return float(value)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{key}: expected an integer, got {value!r}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PlanError(f"{key}: expected a non-empty string, got {value!r}")
    return value
