"""A straightforward pandas implementation of one vintage's MRV calculation.

The throughput benchmark compares the pipeline (Ibis on DuckDB, with compiled
kernels) with "a straightforward pandas implementation of the same
calculation". This is that implementation: written from the methodology's
rules with plain vectorised pandas and numpy, independent of the pipeline's
modules (only the parameter set, the pure equations, the schema constants and
the reason codes are shared), so agreement of the two is also a check of the
pipeline.

``pandas_vintage`` returns the figures of ``runs.summarise`` plus the
quarantine counts (``quarantine.<record_type>.<reason>``) and the days taken
out of the vintage (``rejected_days.<reason>``, ``rejected_km.<reason>``).
Data sets with GPS pings are out of its scope.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from article6.mrv import methodology
from article6.mrv.params import ParameterSet
from article6.mrv.reasons import ReasonCode as R
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW

LOCAL_OFFSET_S = 7 * 3600  # Asia/Phnom_Penh: UTC+7, no daylight saving
SECONDS_PER_DAY = 86400
LOOKBACK_DAYS = 365  # how far back observed days count for the evidence-fill p10
EPOCH = pd.Timestamp("1970-01-01")
FAR_FUTURE = pd.Timestamp("9999-01-01")

Quarantine = Counter[tuple[str, str]]


# -- helpers ----------------------------------------------------------------------------


def _read(staging: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(staging / f"{name}.parquet", columns=columns)


def _micros(stamps: pd.Series) -> pd.Series:
    """UTC instants as integer microseconds (the arithmetic of the rules)."""
    micros: pd.Series = stamps.dt.as_unit("us").astype("int64")
    return micros


def _local_day(stamps: pd.Series) -> pd.Series:
    """Local calendar day as days since 1970-01-01: whole seconds, shifted by 7 h."""
    seconds = np.rint(_micros(stamps) / 1e6).astype("int64")
    days: pd.Series = (seconds + LOCAL_OFFSET_S) // SECONDS_PER_DAY
    return days


def _epoch_days(dates: pd.Series) -> pd.Series:
    """Calendar dates as days since 1970-01-01 (NaN where missing)."""
    return (pd.to_datetime(dates) - EPOCH) / pd.Timedelta(days=1)


def _reject(
    df: pd.DataFrame, bad: pd.Series, record: str, reason: R, q: Quarantine
) -> pd.DataFrame:
    """Count the rows breaking a rule in the quarantine and keep the others."""
    count = int(bad.sum())
    if count:
        q[(record, reason.value)] += count
    return df[~bad]


def _drop_duplicate_keys(df: pd.DataFrame, record: str, q: Quarantine) -> pd.DataFrame:
    """Later copies of a key (by source file, then row) are rejected, the first kept.

    A key with a missing part never equals another, so it is never a copy.
    """
    key = list(SCHEMAS[record].key)
    df = df.sort_values([SOURCE_FILE, SOURCE_ROW])
    copy = df.duplicated(key, keep="first") & df[key].notna().all(axis=1)
    return _reject(df, copy, record, R.DUPLICATE_KEY, q)


def _reference(
    df: pd.DataFrame,
    record: str,
    column: str,
    accepted: pd.Series,
    known: pd.Series,
    unknown: R,
    excluded: R,
    q: Quarantine,
) -> pd.DataFrame:
    """A reference must name a known record, and then one that was accepted."""
    present = df[column].notna()
    df = _reject(df, present & ~df[column].isin(known), record, unknown, q)
    present = df[column].notna()
    return _reject(df, present & ~df[column].isin(accepted), record, excluded, q)


def _categories(params: ParameterSet, year: int) -> pd.DataFrame:
    """The per-category parameters, with the vintage's baseline factor (E3), by category."""
    return pd.DataFrame(
        {
            "max_daily_km": [c.max_daily_km for c in params.categories],
            "sec_min": [c.sec_min_kwh_per_km for c in params.categories],
            "sec_max": [c.sec_max_kwh_per_km for c in params.categories],
            "ratio": [c.displacement_ratio for c in params.categories],
            "ef_g_per_km": [
                methodology.vintage_baseline_ef_g_per_km(params, c.name, year)
                for c in params.categories
            ],
        },
        index=pd.Index(params.category_names(), name="category"),
    )


@dataclass(frozen=True)
class Accepted:
    """Records that passed the identity rules, and every id of the referenced tables."""

    vehicles: pd.DataFrame
    assignments: pd.DataFrame
    stations: pd.DataFrame
    meters: pd.DataFrame
    swaps: pd.DataFrame
    charges: pd.DataFrame
    batteries: pd.DataFrame
    calibrations: pd.DataFrame
    invoices: pd.DataFrame
    all_vehicle_ids: pd.Series
    all_meter_ids: pd.Series


# -- identity rules ---------------------------------------------------------------------


def _vehicles(
    raw: pd.DataFrame, others: pd.DataFrame, params: ParameterSet, q: Quarantine
) -> pd.DataFrame:
    """Vehicles with a unique VIN and plate, in no other programme, known category, ER rights."""
    vins = raw.vin.map(raw.vin.value_counts())
    plates = raw.plate.map(raw.plate.value_counts())
    v = raw.assign(_vins=vins, _plates=plates)
    v = _reject(v, v._vins > 1, "vehicles", R.DUPLICATE_VIN, q)
    v = _reject(v, v._plates > 1, "vehicles", R.DUPLICATE_PLATE, q)
    listed = v.vin.isin(others.vin.dropna()) | v.plate.isin(others.plate.dropna())
    v = _reject(v, listed, "vehicles", R.OTHER_PROGRAMME, q)
    known = v.category.isin(params.category_names()) | v.category.isna()
    v = _reject(v, ~known, "vehicles", R.UNKNOWN_CATEGORY, q)
    v = _reject(v, v.er_rights_signed_date.isna(), "vehicles", R.NO_ER_RIGHTS, q)
    return v.assign(
        er_day=_epoch_days(v.er_rights_signed_date),
        start_day=_epoch_days(v.commission_date),
        stop_day=_epoch_days(v.decommission_date),
    )


def _overlapping(a: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose validity overlaps another row's for the same device (or vehicle)."""
    rows = a[[column, "_id", "valid_from", "_to"]]
    pairs = rows.merge(rows, on=column, suffixes=("", "_2"))
    overlap = (
        (pairs._id != pairs._id_2)
        & (pairs.valid_from < pairs._to_2)
        & (pairs.valid_from_2 < pairs._to)
    )
    return a._id.isin(pairs._id[overlap])


def _assignments(
    raw: pd.DataFrame, vehicles: pd.DataFrame, all_ids: pd.Series, q: Quarantine
) -> pd.DataFrame:
    """Assignments of accepted vehicles that overlap no other of their device or vehicle."""
    record = "device_assignments"
    a = _reference(
        raw, record, "vehicle_id", vehicles.vehicle_id, all_ids, R.UNKNOWN_VEHICLE,
        R.VEHICLE_EXCLUDED, q,
    )  # fmt: skip
    a = a.assign(_id=np.arange(len(a)), _to=a.valid_to.fillna(FAR_FUTURE))
    overlap = _overlapping(a, "device_id") | _overlapping(a, "vehicle_id")
    return _reject(a, overlap, record, R.DEVICE_OVERLAP, q)


# -- daily distance ---------------------------------------------------------------------


def _odometer(
    raw: pd.DataFrame,
    assignments: pd.DataFrame,
    vehicles: pd.DataFrame,
    params: ParameterSet,
    q: Quarantine,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted odometer readings (vehicle_id, us, day, km) and their days.

    A reading belongs to the vehicle of the assignment in force at its instant,
    with that assignment's offset added; then a rise faster than top speed x
    tolerance since the vehicle's previous reading, then a reading below an
    earlier plausible one, is rejected.
    """
    record = "odometer_readings"
    r = _drop_duplicate_keys(raw, record, q).reset_index(drop=True)
    r["_row"] = np.arange(len(r))
    a = assignments[["device_id", "vehicle_id", "valid_from", "valid_to", "odometer_offset_km"]]
    joined = r.merge(a, on="device_id")
    in_force = (joined.ts >= joined.valid_from) & (
        joined.valid_to.isna() | (joined.ts < joined.valid_to)
    )
    joined = joined[in_force]
    _reject(r, ~r._row.isin(joined._row), record, R.UNASSIGNED_DEVICE, q)  # only counted
    top = joined.vehicle_id.map(vehicles.set_index("vehicle_id").top_speed_kmh)
    df = pd.DataFrame(
        {
            "vehicle_id": joined.vehicle_id,
            "us": _micros(joined.ts),
            "day": _local_day(joined.ts),
            "km": joined.odometer_km + joined.odometer_offset_km,
            "limit": top * params.speed_tolerance_factor,
            SOURCE_FILE: joined[SOURCE_FILE],
            SOURCE_ROW: joined[SOURCE_ROW],
        }
    )
    df = df.sort_values(["vehicle_id", "us", SOURCE_FILE, SOURCE_ROW], ignore_index=True)
    by_vehicle = df.groupby("vehicle_id", sort=False)
    hours = (df.us / 1e6 - by_vehicle.us.shift() / 1e6) / 3600.0
    rise = df.km - by_vehicle.km.shift()
    too_fast = (rise > 0) & ((hours <= 0) | (rise > df.limit * hours))
    df = _reject(df, too_fast, record, R.IMPLAUSIBLE_SPEED, q)
    highest = df.groupby("vehicle_id", sort=False).km.cummax()
    before = highest.groupby(df.vehicle_id, sort=False).shift()
    df = _reject(df, df.km < before, record, R.ODOMETER_DECREASE, q)
    return df[["vehicle_id", "day", "km"]], df[["vehicle_id", "day"]].drop_duplicates()


def _odometer_daily(readings: pd.DataFrame, params: ParameterSet) -> pd.DataFrame:
    """Daily km from day-end readings: the rise since the previous day with readings.

    A gap of up to ``gap_fill_max_days`` missing days is spread evenly over the
    gap (imputed days); after a longer gap the day gets nothing.
    """
    ends = readings.groupby(["vehicle_id", "day"], as_index=False).km.max()
    by_vehicle = ends.groupby("vehicle_id", sort=False)
    ends["gap"] = ends.day - by_vehicle.day.shift()
    ends["delta"] = ends.km - by_vehicle.km.shift()
    steps = ends[(ends.gap >= 1) & (ends.gap <= params.gap_fill_max_days + 1)]
    gaps = steps.gap.astype("int64").to_numpy()
    spread = steps.loc[steps.index.repeat(gaps)]
    # k counts back from the day with the reading: 0 for it, 1.. for the missing days.
    k = np.arange(len(spread)) - np.repeat(np.cumsum(gaps) - gaps, gaps)
    return pd.DataFrame(
        {
            "vehicle_id": spread.vehicle_id.to_numpy(),
            "day": spread.day.to_numpy() - k,
            "distance_km": (spread.delta / spread.gap).to_numpy(),
            "imputed": k > 0,
        }
    )


def _evidence(
    swaps: pd.DataFrame, charges: pd.DataFrame, batteries: pd.DataFrame, vehicles: pd.DataFrame
) -> pd.DataFrame:
    """vehicle_id, day, energy_kwh of the swaps and charges of accepted vehicles."""
    capacity = swaps.battery_in_id.map(batteries.set_index("battery_id").capacity_kwh)
    swap_kwh = capacity.fillna(0.0) * (swaps.soc_in_pct - swaps.soc_out_pct).clip(lower=0.0) / 100.0
    own = charges[charges.vehicle_id.isin(vehicles.vehicle_id)]
    rows = pd.concat(
        [
            pd.DataFrame(
                {
                    "vehicle_id": swaps.vehicle_id,
                    "day": _local_day(swaps.ts),
                    "energy_kwh": swap_kwh,
                }
            ),
            pd.DataFrame(
                {
                    "vehicle_id": own.vehicle_id,
                    "day": _local_day(own.ts_start),
                    "energy_kwh": own.energy_kwh,
                }
            ),
        ]
    )
    return rows.groupby(["vehicle_id", "day"], as_index=False).agg(energy_kwh=("energy_kwh", "sum"))


def _prior_p10(gaps: pd.DataFrame, observed: pd.DataFrame, window: int) -> np.ndarray:
    """Nearest-rank 10th percentile of each gap's latest `window` observed days before it.

    Observed days count back at most ``LOOKBACK_DAYS``; NaN where there are none.
    Both frames must carry an integer vehicle code (``code``).
    """
    span = LOOKBACK_DAYS + 1
    observed = observed.assign(_key=observed.code * (1 << 32) + observed.day)
    observed = observed.sort_values("_key")
    keys, km = observed._key.to_numpy(), observed.distance_km.to_numpy()
    gap_key = (gaps.code * (1 << 32) + gaps.day).to_numpy()
    end = np.searchsorted(keys, gap_key, side="left")
    first = np.searchsorted(keys, gap_key - span + 1, side="left")
    n = np.minimum(end - first, window)
    back = np.arange(window)
    picked = np.where(back < n[:, None], km[np.clip(end[:, None] - 1 - back, 0, None)], np.nan)
    picked = np.sort(picked, axis=1)  # missing values sort last
    rank = np.maximum((n + 9) // 10 - 1, 0)
    p10 = picked[np.arange(len(n)), rank] if len(n) else np.zeros(0)
    return np.where(n > 0, p10, np.nan)


def _daily_distance(
    odo: pd.DataFrame,
    evidence: pd.DataFrame,
    vehicles: pd.DataFrame,
    cats: pd.DataFrame,
    params: ParameterSet,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid and evidence-filled daily km of every accepted vehicle, and days over the cap.

    A day above the category's ``max_daily_km`` is rejected. A day with a swap
    or charge but no odometer distance is filled with the lower of the p10 of
    the vehicle's previous observed days and the energy-implied km at SEC_max.
    """
    vcats = vehicles[["vehicle_id", "category"]].join(cats, on="category", how="inner")
    vcats["code"] = np.arange(len(vcats))
    days = odo.merge(vcats, on="vehicle_id")
    over = days.distance_km > days.max_daily_km
    valid = days[days.distance_km <= days.max_daily_km]
    covered = pd.MultiIndex.from_frame(days[["vehicle_id", "day"]])
    gaps = evidence[~pd.MultiIndex.from_frame(evidence[["vehicle_id", "day"]]).isin(covered)]
    gaps = gaps.merge(vcats, on="vehicle_id")
    p10 = _prior_p10(gaps, valid[~valid.imputed], params.p10_window_days)
    energy_km = gaps.energy_kwh / gaps.sec_max
    filled = gaps[["vehicle_id", "day"]].assign(
        distance_km=np.minimum(np.nan_to_num(p10, nan=0.0), energy_km).clip(lower=0.0),
        imputed=True,
    )
    columns = ["vehicle_id", "day", "distance_km", "imputed"]
    daily = pd.concat([valid[columns], filled[columns]], ignore_index=True)
    rejected = days.loc[over, ["vehicle_id", "day", "distance_km"]].assign(
        reason=R.DAILY_KM_EXCEEDED.value
    )
    return daily, rejected


# -- vehicle-year -----------------------------------------------------------------------


def _window_reason(day: pd.Series, v: pd.DataFrame) -> pd.Series:
    """Why a day lies outside the vehicle's credited window ("" when inside)."""
    return pd.Series(
        np.select(
            [
                day < v.er_day,
                day < v.start_day,
                v.stop_day.notna() & (day >= v.stop_day),
            ],
            [
                R.BEFORE_ER_RIGHTS.value,
                R.OUTSIDE_SERVICE_WINDOW.value,
                R.OUTSIDE_SERVICE_WINDOW.value,
            ],
            default="",
        ),
        index=day.index,
    )


def _vehicle_year(
    daily: pd.DataFrame,
    evidence: pd.DataFrame,
    telematics: pd.DataFrame,
    vehicles: pd.DataFrame,
    first: int,
    end: int,
    params: ParameterSet,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per vehicle in service during the vintage: distance, evidence, credited km.

    Only days inside the window (after the ER-rights date, commissioned, not
    yet decommissioned) count; a vehicle with distance but no swap or charge in
    its window, or with an imputed share above ``imputed_zero_share``, credits 0.
    """
    window = vehicles[["vehicle_id", "er_day", "start_day", "stop_day"]]
    days = daily[(daily.day >= first) & (daily.day < end)].merge(window, on="vehicle_id")
    reason = _window_reason(days.day, days)
    outside = days[reason != ""].assign(reason=reason[reason != ""])
    days = days[reason == ""]
    per_vehicle = days.assign(imputed_km=days.distance_km.where(days.imputed, 0.0))
    per_vehicle = per_vehicle.groupby("vehicle_id")[["distance_km", "imputed_km"]].sum()
    ev = evidence.merge(window, on="vehicle_id")
    ev = ev[(ev.day >= first) & (ev.day < end) & (_window_reason(ev.day, ev) == "")]
    ev = ev.groupby("vehicle_id").day.agg(["count", "min", "max"])
    ev.columns = ["evidence_days", "evidence_first_day", "evidence_last_day"]
    tracked = telematics[(telematics.day >= first) & (telematics.day < end)].vehicle_id.unique()
    in_service = (
        (vehicles.er_day < end)
        & (vehicles.start_day < end)
        & (vehicles.stop_day.isna() | (vehicles.stop_day > first))
    )
    vy = vehicles[in_service].set_index("vehicle_id")
    vy = vy.join(per_vehicle).join(ev)
    vy[["distance_km", "imputed_km"]] = vy[["distance_km", "imputed_km"]].fillna(0.0)
    vy["evidence_days"] = vy.evidence_days.fillna(0).astype("int64")
    vy["has_telematics"] = vy.index.isin(tracked)
    positive = vy.distance_km > 0
    share = (vy.imputed_km / vy.distance_km.where(positive)).where(positive, 0.0)
    no_evidence = positive & (vy.evidence_days == 0)
    zeroed = share > params.imputed_zero_share
    vy["credited_km"] = vy.distance_km.where(~(no_evidence | zeroed), 0.0)
    return vy.reset_index(), outside[["vehicle_id", "day", "distance_km", "reason"]]


# -- sampling (E9) ----------------------------------------------------------------------


def _survey_annual_km(
    raw: pd.DataFrame,
    vehicles: pd.DataFrame,
    all_ids: pd.Series,
    first: int,
    end: int,
    q: Quarantine,
) -> pd.Series:
    """Annual km per surveyed vehicle: the rate over its surveyed span in the vintage."""
    record = "odometer_surveys"
    s = _drop_duplicate_keys(raw, record, q)
    s = _reference(
        s, record, "vehicle_id", vehicles.vehicle_id, all_ids, R.UNKNOWN_VEHICLE,
        R.VEHICLE_EXCLUDED, q,
    )  # fmt: skip
    s = s.sort_values(["vehicle_id", "date", SOURCE_FILE, SOURCE_ROW])
    highest = s.groupby("vehicle_id").odometer_km.cummax()
    before = highest.groupby(s.vehicle_id).shift()
    s = _reject(s, s.odometer_km < before, record, R.ODOMETER_DECREASE, q)
    s = s.assign(day=_epoch_days(s.date))
    s = s[(s.day >= first) & (s.day < end)]
    span = s.groupby("vehicle_id").agg(
        first=("day", "min"), last=("day", "max"), low=("odometer_km", "min"),
        high=("odometer_km", "max"),
    )  # fmt: skip
    span = span[span["last"] > span["first"]]
    rate = (span.high - span.low) / (span["last"] - span["first"])
    return rate * float(end - first)


def _category_credit(population: int, distances: list[float], params: ParameterSet) -> float:
    """(E9) km a year credited per vehicle: the sample mean if precise enough, else its
    lower bound (0 with fewer than two surveyed vehicles)."""
    n = len(distances)
    if n < 2:
        return 0.0
    z, target = params.sampling_z, params.sampling_precision
    mean = statistics.fmean(distances)
    sd = statistics.stdev(distances)
    se = sd / math.sqrt(n)
    cv = sd / mean if mean > 0 else None
    precision = z * se / mean if mean > 0 else None
    required = methodology.sample_size(population, cv, target, z) if cv is not None else population
    met = precision is not None and n >= required and precision <= target
    return mean if met else max(0.0, methodology.conservative_bound(mean, se, z, lower=True))


def _sampling(
    vy: pd.DataFrame, annual: pd.Series, first: int, end: int, params: ParameterSet
) -> tuple[pd.DataFrame, int]:
    """Credit vehicles without telematics but with evidence from their category's sample,
    prorated by the days of their window their swaps and charges span."""
    eligible = ~vy.has_telematics & (vy.evidence_days > 0)
    population = vy[eligible]
    sample = population[population.vehicle_id.isin(annual.index)].sort_values("vehicle_id")
    sample_km = sample.vehicle_id.map(annual)
    credits = {
        category: _category_credit(
            int(size), sample_km[sample.category == category].tolist(), params
        )
        for category, size in population.category.value_counts().items()
    }
    since = pd.concat([vy.er_day, vy.start_day, vy.evidence_first_day.fillna(end)], axis=1)
    until = pd.concat([vy.stop_day.fillna(end), vy.evidence_last_day.fillna(first - 1) + 1], axis=1)
    covered = (until.min(axis=1).clip(upper=end) - since.max(axis=1).clip(lower=first)).clip(
        lower=0
    )
    prorated = vy.category.map(credits).fillna(0.0) * covered / float(end - first)
    vy = vy.assign(sampled_km=prorated.where(eligible, 0.0))
    vy["credited_km"] = vy.credited_km + vy.sampled_km
    return vy, len(sample)


# -- station energy ---------------------------------------------------------------------


def _meter_steps(
    raw: pd.DataFrame, meters: pd.DataFrame, all_ids: pd.Series, q: Quarantine
) -> pd.DataFrame:
    """Register increases between accepted readings, with the interval energy they span.

    A reading below an earlier one is rejected; its interval energy goes to the
    next accepted reading's span. A span with a missing interval value is unchecked.
    """
    record = "meter_readings"
    r = _drop_duplicate_keys(raw, record, q)
    r = _reference(
        r, record, "meter_id", meters.meter_id, all_ids, R.UNKNOWN_METER, R.METER_EXCLUDED, q
    )
    if "interval_kwh" not in r:
        r = r.assign(interval_kwh=np.nan)
    r = r.sort_values(["meter_id", "ts", SOURCE_FILE, SOURCE_ROW], ignore_index=True)
    highest = r.groupby("meter_id", sort=False).cumulative_kwh.cummax()
    dropped = r.cumulative_kwh < highest.groupby(r.meter_id, sort=False).shift()
    accepted = (~dropped).astype("int64")
    r["_span"] = accepted.groupby(r.meter_id, sort=False).cumsum() - accepted
    r["_gap"] = r.interval_kwh.isna()
    span = r.groupby(["meter_id", "_span"], sort=False)
    r["span_kwh"] = span.interval_kwh.transform("sum").where(span._gap.transform("sum") == 0)
    r = _reject(r, dropped, record, R.METER_DECREASE, q)
    r["energy_kwh"] = r.cumulative_kwh - r.groupby("meter_id", sort=False).cumulative_kwh.shift()
    r = r[r.energy_kwh.notna()]
    steps = r.merge(meters[["meter_id", "station_id", "role"]], on="meter_id")
    return steps.assign(day=_local_day(steps.ts))[
        ["meter_id", "station_id", "role", "day", "energy_kwh", "span_kwh"]
    ]


def _meter_days(steps: pd.DataFrame, params: ParameterSet) -> pd.DataFrame:
    """Per meter and day: register energy, raised to the interval sum on a mismatching day."""
    checked = steps.span_kwh.notna()
    steps = steps.assign(_checked_kwh=steps.energy_kwh.where(checked), _checked=checked)
    days = steps.groupby(["meter_id", "station_id", "day"], as_index=False).agg(
        register_kwh=("energy_kwh", "sum"),
        checked_kwh=("_checked_kwh", "sum"),
        interval_kwh=("span_kwh", "sum"),
        intervals=("_checked", "sum"),
    )
    gap = days.interval_kwh - days.checked_kwh
    tolerance = params.meter_interval_tolerance_pct / 100.0
    mismatch = (days.intervals > 0) & (gap.abs() > tolerance * days.checked_kwh.abs())
    days["energy_kwh"] = days.register_kwh + gap.clip(lower=0.0).where(mismatch, 0.0)
    return days


def _calibration_factor(
    days: pd.DataFrame, calibrations: pd.DataFrame, meters: pd.DataFrame
) -> pd.Series:
    """(E10) Per meter-day: 1 + |error| of a failing calibration covering it, else 1.

    A calibration covers the days after the meter's previous calibration up to
    its own date; a failing one did not pass or erred beyond the accuracy class.
    """
    cal = calibrations.assign(cal_day=_epoch_days(calibrations.date))
    cal = cal.sort_values(["meter_id", "cal_day"])
    cal["prev_day"] = cal.groupby("meter_id").cal_day.shift()
    cal = cal.merge(meters[["meter_id", "accuracy_class_pct"]], on="meter_id")
    fails = cal[~cal.passed.astype(bool) | (cal.error_pct.abs() > cal.accuracy_class_pct)]
    fails = fails.assign(factor=1.0 + fails.error_pct.abs() / 100.0)
    pairs = days.reset_index().merge(fails[["meter_id", "prev_day", "cal_day", "factor"]])
    hit = (pairs.prev_day.isna() | (pairs.day > pairs.prev_day)) & (pairs.day <= pairs.cal_day)
    worst = pairs[hit].groupby("index").factor.max()
    return worst.reindex(days.index).fillna(1.0)


def _station_energy(
    steps: pd.DataFrame,
    t: Accepted,
    first: int,
    end: int,
    params: ParameterSet,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per station: vintage energy after meter, calibration and invoice rules, and the
    shares of the fleet segments in it.

    Grid-import meters count. Beyond ``invoice_tolerance_pct`` the higher of
    meter and invoice wins; sessions of vehicles outside the project come off;
    a station that served no project vehicle in the vintage counts nothing.
    """
    steps = steps[(steps.role == "grid_import") & (steps.day >= first) & (steps.day < end)]
    days = _meter_days(steps, params)
    days["factor"] = _calibration_factor(days, t.calibrations, t.meters)
    metered = (days.energy_kwh * days.factor).groupby(days.station_id).sum()
    inv = t.invoices
    inv_end = _epoch_days(inv.period_end)
    invoiced = inv[(inv_end >= first) & (inv_end < end)].groupby("station_id").kwh_billed.sum()
    charges = t.charges
    charge_day = _local_day(charges.ts_start)
    charges = charges[(charge_day >= first) & (charge_day < end)]
    outside = charges.vehicle_id.isna() | ~charges.vehicle_id.isin(t.all_vehicle_ids)
    non_project = charges[outside].groupby("station_id").energy_kwh.sum()
    fleet = t.vehicles[["vehicle_id", "battery_mode"]]
    project = charges.merge(fleet, on="vehicle_id")
    swaps = t.swaps
    swap_day = _local_day(swaps.ts)
    in_vintage = swaps.station_id[(swap_day >= first) & (swap_day < end)]
    served = pd.concat([in_vintage, project.station_id]).unique()
    st = t.stations[["station_id", "kind", "supply"]].set_index("station_id")
    st["metered_kwh"] = metered.reindex(st.index).fillna(0.0)
    st["invoiced_kwh"] = invoiced.reindex(st.index)
    tolerance = params.invoice_tolerance_pct / 100.0
    mismatch = (st.metered_kwh - st.invoiced_kwh).abs() > tolerance * st.invoiced_kwh.abs()
    reconciled = st.metered_kwh.where(~mismatch, np.maximum(st.metered_kwh, st.invoiced_kwh))
    net = (reconciled - non_project.reindex(st.index).fillna(0.0)).clip(lower=0.0)
    st["energy_kwh"] = net.where(st.index.isin(served), 0.0)
    return st.reset_index(), _segment_shares(st.reset_index(), project)


def _segment_shares(stations: pd.DataFrame, project: pd.DataFrame) -> pd.DataFrame:
    """station_id, segment, share: cabinets to 'swap', chargers by their project sessions'
    energy per battery mode ('fixed' when they had none)."""
    cabinet = stations.kind == "swap_cabinet"
    by_mode = project.groupby(["station_id", "battery_mode"], as_index=False).energy_kwh.sum()
    by_mode["total"] = by_mode.groupby("station_id").energy_kwh.transform("sum")
    by_mode = by_mode[by_mode.total > 0]
    chargers = stations.station_id[~cabinet]
    shares = by_mode[by_mode.station_id.isin(chargers)]
    fallback = chargers[~chargers.isin(by_mode.station_id)]
    return pd.concat(
        [
            pd.DataFrame(
                {"station_id": stations.station_id[cabinet], "segment": "swap", "share": 1.0}
            ),
            pd.DataFrame(
                {
                    "station_id": shares.station_id,
                    "segment": shares.battery_mode,
                    "share": shares.energy_kwh / shares.total,
                }
            ),
            pd.DataFrame({"station_id": fallback, "segment": "fixed", "share": 1.0}),
        ],
        ignore_index=True,
    )


# -- segments, BE, PE -------------------------------------------------------------------


def _segments(
    vy: pd.DataFrame,
    stations: pd.DataFrame,
    shares: pd.DataFrame,
    cats: pd.DataFrame,
    params: ParameterSet,
    year: int,
) -> pd.DataFrame:
    """(E2) Per segment (battery mode): the scale of the energy cap, and the distance
    and off-meter energy (at SEC_max) of a segment without metered energy."""
    attributed = shares.merge(stations[["station_id", "energy_kwh"]], on="station_id")
    energy = (attributed.energy_kwh * attributed.share).groupby(attributed.segment).sum()
    driving = vy[vy.credited_km > 0].join(cats[["sec_min", "sec_max"]], on="category")
    seg = driving.groupby("battery_mode").agg(
        distance_km=("credited_km", "sum"), sec_min=("sec_min", "min"), sec_max=("sec_max", "max")
    )
    seg = seg.join(energy.rename("energy_kwh"), how="outer")
    seg["distance_km"] = seg.distance_km.fillna(0.0)
    seg["energy_kwh"] = seg.energy_kwh.fillna(0.0)
    metered = seg.energy_kwh > 0
    cap_km = seg.energy_kwh / seg.sec_min
    binding = metered & (seg.distance_km > cap_km)
    seg["scale"] = (cap_km / seg.distance_km).where(binding, 1.0)
    seg["unmetered_km"] = seg.distance_km.where(~metered, 0.0)
    seg["unmetered_kwh"] = seg.unmetered_km * seg.sec_max.fillna(0.0)
    grid = methodology.vintage_grid_factor_t_per_mwh(params, year)
    seg["unmetered_pe_t"] = seg.unmetered_kwh / methodology.KWH_PER_MWH * grid
    return seg


def _station_pe(stations: pd.DataFrame, params: ParameterSet, year: int) -> pd.Series:
    """(E5) Grid and grid+PV stations at the grid factor, diesel at the captive one."""
    grid = methodology.vintage_grid_factor_t_per_mwh(params, year)
    factor = pd.Series(
        np.select(
            [stations.supply.isin(["grid", "grid_pv"]), stations.supply == "diesel"],
            [grid, params.captive_fossil_ef_t_per_mwh],
            default=0.0,
        ),
        index=stations.index,
    )
    return stations.energy_kwh / methodology.KWH_PER_MWH * factor


# -- the vintage ------------------------------------------------------------------------


def _identity(staging: Path, params: ParameterSet, q: Quarantine) -> Accepted:
    """Read the entity and event tables, drop duplicate keys and apply the identity rules."""
    raw = {
        name: _drop_duplicate_keys(_read(staging, name), name, q)
        for name in SCHEMAS
        if name not in ("gps_pings", "odometer_readings", "odometer_surveys", "meter_readings")
    }
    vehicles = _vehicles(raw["vehicles"], raw["other_programme_vehicles"], params, q)
    all_vehicles = raw["vehicles"].vehicle_id
    stations = raw["stations"]
    stations = _reject(
        stations, stations.other_programme_id.notna(), "stations", R.OTHER_PROGRAMME, q
    )
    all_stations = raw["stations"].station_id
    station_rule = (stations.station_id, all_stations, R.UNKNOWN_STATION, R.STATION_EXCLUDED)
    vehicle_rule = (vehicles.vehicle_id, all_vehicles, R.UNKNOWN_VEHICLE, R.VEHICLE_EXCLUDED)
    meters = _reference(raw["meters"], "meters", "station_id", *station_rule, q)
    swaps = _reference(raw["swap_events"], "swap_events", "station_id", *station_rule, q)
    swaps = _reference(swaps, "swap_events", "vehicle_id", *vehicle_rule, q)
    meter_rule = (meters.meter_id, raw["meters"].meter_id, R.UNKNOWN_METER, R.METER_EXCLUDED)
    return Accepted(
        vehicles=vehicles,
        assignments=_assignments(raw["device_assignments"], vehicles, all_vehicles, q),
        stations=stations,
        meters=meters,
        swaps=swaps,
        charges=_reference(
            raw["charge_sessions"], "charge_sessions", "station_id", *station_rule, q
        ),
        batteries=raw["batteries"],
        calibrations=_reference(
            raw["meter_calibrations"], "meter_calibrations", "meter_id", *meter_rule, q
        ),
        invoices=_reference(
            raw["utility_invoices"], "utility_invoices", "station_id", *station_rule, q
        ),
        all_vehicle_ids=all_vehicles,
        all_meter_ids=raw["meters"].meter_id,
    )


def pandas_vintage(staging: Path, params: ParameterSet, year: int) -> dict[str, float | int]:
    """The figures of vintage `year` from a staged data set without GPS pings.

    Keys: those of ``runs.VintageFigures``, plus ``quarantine.<record>.<reason>``
    (rows rejected) and ``rejected_days.<reason>`` / ``rejected_km.<reason>``.
    """
    staging = Path(staging)
    if len(_read(staging, "gps_pings", ["device_id"])):
        raise ValueError("the pandas reference covers datasets without GPS pings")
    first = (date(year, 1, 1) - date(1970, 1, 1)).days
    end = (date(year + 1, 1, 1) - date(1970, 1, 1)).days
    q: Quarantine = Counter()
    cats = _categories(params, year)
    t = _identity(staging, params, q)
    vehicles = t.vehicles
    readings, telematics = _odometer(
        _read(staging, "odometer_readings"), t.assignments, vehicles, params, q
    )
    evidence = _evidence(t.swaps, t.charges, t.batteries, vehicles)
    odo = _odometer_daily(readings, params)
    daily, over_cap = _daily_distance(odo, evidence, vehicles, cats, params)
    vy, outside = _vehicle_year(daily, evidence, telematics, vehicles, first, end, params)
    annual = _survey_annual_km(
        _read(staging, "odometer_surveys"), vehicles, t.all_vehicle_ids, first, end, q
    )
    vy, sample_n = _sampling(vy, annual, first, end, params)
    steps = _meter_steps(_read(staging, "meter_readings"), t.meters, t.all_meter_ids, q)
    stations, shares = _station_energy(steps, t, first, end, params)
    seg = _segments(vy, stations, shares, cats, params, year)
    # (E2, E4) distance after the segment's cap, and baseline emissions per vehicle.
    vy["final_km"] = vy.credited_km * vy.battery_mode.map(seg.scale).fillna(1.0)
    factors = vy[["category"]].join(cats, on="category")
    vy["be_t"] = factors.ef_g_per_km * vy.final_km * factors.ratio / methodology.GRAMS_PER_TONNE
    pe_t = math.fsum(_station_pe(stations, params, year)) + math.fsum(seg.unmetered_pe_t)
    outcome = methodology.emission_reductions(
        math.fsum(vy.be_t), pe_t, params.leakage_t, params.small_scale_cap_t
    )
    figures: dict[str, float | int] = {
        "year": year,
        "vehicles_eligible": len(vy),
        "distance_km": math.fsum(vy.final_km),
        "energy_kwh": math.fsum(stations.energy_kwh),
        "unmetered_energy_kwh": math.fsum(seg.unmetered_kwh),
        "be_t": outcome.be_t,
        "pe_t": outcome.pe_t,
        "le_t": outcome.le_t,
        "er_raw_t": outcome.er_raw_t,
        "er_t": outcome.er_t,
        "cap_excess_t": outcome.cap_excess_t,
        "issued_t": outcome.issued_t,
        "sampled_vehicles": sample_n,
        "sampling_credited_vehicles": int((vy.sampled_km > 0).sum()),
        "sampling_credited_km": math.fsum(vy.sampled_km),
    }
    figures.update(_coverage(vy, params))
    for (record, reason), rows in sorted(q.items()):
        figures[f"quarantine.{record}.{reason}"] = rows
    removed = pd.concat([over_cap, outside])
    removed = removed[(removed.day >= first) & (removed.day < end)]
    for code, group in removed.groupby("reason"):
        figures[f"rejected_days.{code}"] = len(group)
        figures[f"rejected_km.{code}"] = float(group.distance_km.sum())
    return figures


def _coverage(vy: pd.DataFrame, params: ParameterSet) -> dict[str, float | int]:
    """Operating vehicles, telematics coverage and the E9 sample size it would call for."""
    operating = vy[vy.final_km > 0].sort_values("vehicle_id")
    tracked = operating[operating.has_telematics]
    coverage = len(tracked) / len(operating) if len(operating) else 1.0
    required = 0
    if coverage < params.telematics_coverage_min:
        distances = tracked.final_km.tolist()
        mean = statistics.fmean(distances) if distances else 0.0
        cv = statistics.pstdev(distances) / mean if len(distances) > 1 and mean > 0 else 1.0
        required = methodology.sample_size(
            len(operating) - len(tracked), cv, params.sampling_precision, params.sampling_z
        )
    return {
        "vehicles_operating": len(operating),
        "telematics_coverage": coverage,
        "sampling_required_n": required,
    }
