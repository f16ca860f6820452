"""Daily distance per vehicle from odometer readings and GPS pings (E1 inputs).

Readings are tied to vehicles through the device assignments valid at their
instant, with each assignment's odometer offset added (device swaps and
resets). Implausible readings are quarantined: a jump faster than the model's
top speed × tolerance, then any reading below an earlier one. A day's distance
is the change of the last reading of the day against the last reading of the
previous day with readings; a gap of up to ``gap_fill_max_days`` missing days
bracketed by valid readings is spread evenly over the gap (imputed days).

GPS pings, where kept, give a second distance: pings outside the Cambodia
boundary, jumps of more than 5 km within a minute and implausible speeds are
removed, and the haversine lengths of the remaining segments are summed per
local day. Where both exist the odometer is used, unless the two disagree by
more than ``gps_odometer_tolerance_pct`` of the larger, in which case the lower
wins and the day is flagged.

Days with a swap or charge but no distance are filled with the lower of the
10th percentile (nearest rank) of the vehicle's previous 30 observed days and
the energy-implied distance at SEC_max; with no earlier observation they get 0.
Observed days for the percentile are looked for at most ``LOOKBACK_DAYS`` back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from article6.mrv.params import ParameterSet
from article6.mrv.quality import (
    MARK_COLUMNS,
    Cache,
    QualityTables,
    Rule,
    local_day,
    mark,
    no_cache,
    partition,
    required,
    union_all,
)
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

EARTH_RADIUS_KM = 6371.0088
LOOKBACK_DAYS = 365


@dataclass(frozen=True)
class DistanceTables:
    """Daily distances (all days, before the service-window rules) and rejections.

    ``daily``: vehicle_id, day, distance_km, imputed, source, gps_mismatch.
    ``rejected_days``: vehicle_id, day, distance_km, reason.
    ``evidence``: vehicle_id, day, energy_kwh (swap or charge activity).
    ``telematics``: vehicle_id, day of every accepted reading or ping.
    """

    daily: ir.Table
    rejected_days: ir.Table
    evidence: ir.Table
    telematics: ir.Table
    rejected: ir.Table


def haversine_km(
    lat1: ir.FloatingValue, lon1: ir.FloatingValue, lat2: ir.FloatingValue, lon2: ir.FloatingValue
) -> ir.FloatingValue:
    """Great-circle distance between two points on a spherical Earth."""
    dlat = (lat2 - lat1).radians()
    dlon = (lon2 - lon1).radians()
    # Squares as products, not POWER: a product is rounded the same way on
    # every engine, the power functions of C and Java libraries are not.
    sin_dlat = (dlat / 2).sin()
    sin_dlon = (dlon / 2).sin()
    a = sin_dlat * sin_dlat + lat1.radians().cos() * lat2.radians().cos() * (sin_dlon * sin_dlon)
    return 2 * EARTH_RADIUS_KM * a.sqrt().clip(upper=1.0).asin()


def _assign(table: ir.Table, tables: QualityTables) -> ir.Table:
    """Attach vehicle, offset and top speed to device records by validity interval.

    Rows of no assignment keep a null ``vehicle_id``; ``day`` is the local day.
    """
    a = tables.assignments.select(
        _device=tables.assignments.device_id,
        _vehicle=tables.assignments.vehicle_id,
        _from=tables.assignments.valid_from,
        _to=tables.assignments.valid_to,
        _offset_km=tables.assignments.odometer_offset_km,
    )
    joined = table.left_join(
        a,
        [
            table.device_id == a._device,
            table.ts >= a._from,
            a._to.isnull() | (table.ts < a._to),
        ],
    )
    vehicles = tables.vehicles.select(
        _vid=tables.vehicles.vehicle_id, _top=tables.vehicles.top_speed_kmh
    )
    joined = joined.left_join(vehicles, joined._vehicle == vehicles._vid)
    joined = joined.drop("_device", "_from", "_to", "_vid")
    joined = joined.rename(vehicle_id="_vehicle", top_speed_kmh="_top")
    return joined.mutate(day=local_day(joined.ts))


def _unassigned(assigned: ir.Table) -> Rule:
    return (
        assigned.vehicle_id.isnull(),
        ReasonCode.UNASSIGNED_DEVICE,
        "device_id",
        assigned.device_id,
    )


def _vehicle_timeline(table: ir.Table, rows: tuple[int | None, int] | None = None) -> Any:
    """Each vehicle's records in time order (file and row break ties), as a window."""
    order = [table.ts, table[SOURCE_FILE], table[SOURCE_ROW]]
    return ibis.window(group_by=table.vehicle_id, order_by=order, rows=rows)


def _hours_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    seconds = later.epoch_seconds().cast("float64") - earlier.epoch_seconds().cast("float64")
    return seconds / 3600.0


def odometer_readings(
    readings: ir.Table, tables: QualityTables, params: ParameterSet, cache: Cache = no_cache
) -> tuple[ir.Table, list[ir.Table]]:
    """Accepted readings with vehicle_id, ts, day, odometer_km (offset applied).

    Three passes, each materialised once: assignment, the speed rule (needs
    the previous reading of the survivors), the decrease rule (needs the
    running maximum of the survivors of the speed rule).
    """
    out: list[ir.Table] = []
    assigned = _assign(readings, tables)
    assigned = assigned.mutate(odometer_km=assigned.odometer_km + assigned._offset_km)
    assigned = cache(
        mark(assigned.drop("_offset_km"), [_unassigned(assigned)]), "odometer_assigned"
    )
    kept, bad = partition(assigned, "odometer_readings")
    out.append(bad)
    window = _vehicle_timeline(kept)
    stepped = kept.mutate(
        _prev_km=kept.odometer_km.lag().over(window),
        _prev_ts=kept.ts.lag().over(window),
    )
    hours = _hours_between(stepped.ts, stepped._prev_ts)
    rise_km = stepped.odometer_km - stepped._prev_km
    limit = stepped.top_speed_kmh * params.speed_tolerance_factor
    too_fast = (rise_km > 0) & ((hours <= 0) | (rise_km > limit * hours))
    rule: Rule = (too_fast, ReasonCode.IMPLAUSIBLE_SPEED, "odometer_km", stepped.odometer_km)
    stepped = cache(mark(stepped, [rule]).drop("_prev_km", "_prev_ts"), "odometer_plausible")
    kept, bad = partition(stepped, "odometer_readings")
    out.append(bad)
    earlier = _vehicle_timeline(kept, rows=(None, -1))
    kept = kept.mutate(_max_before=kept.odometer_km.max().over(earlier))
    rule = (
        kept.odometer_km < kept._max_before,
        ReasonCode.ODOMETER_DECREASE,
        "odometer_km",
        kept.odometer_km,
    )
    checked = cache(
        mark(kept, [rule]).select(
            "vehicle_id", "ts", "day", "odometer_km", SOURCE_FILE, SOURCE_ROW, *MARK_COLUMNS
        ),
        "odometer_checked",
    )
    kept, bad = partition(checked, "odometer_readings")
    out.append(bad)
    return kept.select("vehicle_id", "ts", "day", "odometer_km"), out


def odometer_daily(readings: ir.Table, offsets: ir.Table, params: ParameterSet) -> ir.Table:
    """vehicle_id, day, odo_km, odo_imputed from day-end readings and bracketed gaps."""
    ends = readings.group_by(["vehicle_id", "day"]).aggregate(end_km=readings.odometer_km.max())
    window = ibis.window(group_by=ends.vehicle_id, order_by=ends.day)
    steps = ends.mutate(
        _prev_day=ends.day.lag().over(window), _prev_km=ends.end_km.lag().over(window)
    )
    steps = steps.filter(steps._prev_day.notnull())
    steps = steps.select(
        "vehicle_id",
        "day",
        _gap=(steps.day - steps._prev_day).cast("int64"),
        _delta_km=steps.end_km - steps._prev_km,
    )
    return spread_steps(steps, offsets, params)


def spread_steps(steps: ir.Table, offsets: ir.Table, params: ParameterSet) -> ir.Table:
    """Daily odometer distance from the steps between a vehicle's days with readings.

    `steps`: vehicle_id, day, _gap (days since the previous day with readings),
    _delta_km (the rise since that day's end).
    """
    # Most steps close a single day; only the few across a gap need spreading.
    single = steps.filter(steps._gap == 1)
    single = single.select(
        vehicle_id=single.vehicle_id,
        day=single.day,
        odo_km=single._delta_km,
        odo_imputed=ibis.literal(False),
    )
    gapped = steps.filter((steps._gap > 1) & (steps._gap <= params.gap_fill_max_days + 1))
    spread = gapped.join(offsets, offsets.k < gapped._gap)
    spread = spread.select(
        vehicle_id=spread.vehicle_id,
        day=(spread.day - spread.k).cast("int64"),
        odo_km=spread._delta_km / spread._gap.cast("float64"),
        odo_imputed=spread.k > 0,
    )
    return union_all([single, spread])


OdometerStep = tuple[ir.Table, ir.Table, list[ir.Table]]
"""Daily odometer distance (vehicle_id, day, odo_km, odo_imputed), the days with
accepted readings (vehicle_id, day), and the quarantine tables."""


def odometer_step(
    readings: ir.Table,
    tables: QualityTables,
    offsets: ir.Table,
    params: ParameterSet,
    cache: Cache = no_cache,
) -> OdometerStep:
    """The odometer rules and daily distance (on DuckDB, ``odometer_duckdb`` gives the
    same rows by a streaming kernel)."""
    clean, out = odometer_readings(readings, tables, params, cache)
    odo = cache(odometer_daily(clean, offsets, params), "odometer_daily")
    return odo, clean.select("vehicle_id", "day"), out


def gps_daily(
    pings: ir.Table, tables: QualityTables, params: ParameterSet, cache: Cache = no_cache
) -> tuple[ir.Table, ir.Table, list[ir.Table]]:
    """Daily GPS distance per vehicle after boundary, jump and speed rules.

    Two passes: assignment and boundary (row-local), then the jump and speed
    rules, both judged on the step from the previous ping inside the boundary.
    """
    out: list[ir.Table] = []
    assigned = _assign(pings, tables)
    inside = assigned.lat.between(
        params.boundary_lat_min, params.boundary_lat_max
    ) & assigned.lon.between(params.boundary_lon_min, params.boundary_lon_max)
    outside: Rule = (~inside, ReasonCode.OUTSIDE_BOUNDARY, "lat", assigned.lat)
    assigned = cache(mark(assigned, [_unassigned(assigned), outside]), "gps_assigned")
    kept, bad = partition(assigned, "gps_pings")
    out.append(bad)
    window = _vehicle_timeline(kept)
    kept = kept.mutate(
        _plat=kept.lat.lag().over(window),
        _plon=kept.lon.lag().over(window),
        _pts=kept.ts.lag().over(window),
    )
    step_km = haversine_km(kept._plat, kept._plon, kept.lat, kept.lon)
    hours = _hours_between(kept.ts, kept._pts)
    kept = kept.mutate(_step_km=step_km, _hours=hours)
    jump = (kept._step_km > params.gps_jump_km) & (kept._hours * 3600.0 <= params.gps_jump_window_s)
    limit = kept.top_speed_kmh * params.speed_tolerance_factor
    too_fast = (kept._step_km > 0) & ((kept._hours <= 0) | (kept._step_km > limit * kept._hours))
    rules: list[Rule] = [
        (jump, ReasonCode.GPS_JUMP, "lat", kept.lat),
        (too_fast, ReasonCode.IMPLAUSIBLE_SPEED, "lat", kept.lat),
    ]
    checked = cache(
        mark(kept, rules).select(
            "vehicle_id", "ts", "day", "lat", "lon", SOURCE_FILE, SOURCE_ROW, *MARK_COLUMNS
        ),
        "gps_checked",
    )
    kept, bad = partition(checked, "gps_pings")
    out.append(bad)
    window = _vehicle_timeline(kept)
    segments = kept.mutate(
        _plat=kept.lat.lag().over(window),
        _plon=kept.lon.lag().over(window),
        _pday=kept.day.lag().over(window),
    )
    segments = segments.mutate(
        _km=ibis.ifelse(
            segments._pday == segments.day,
            haversine_km(segments._plat, segments._plon, segments.lat, segments.lon),
            0.0,
        ).fill_null(0.0)
    )
    daily = segments.group_by(["vehicle_id", "day"]).aggregate(gps_km=segments._km.sum())
    return daily, kept.select("vehicle_id", "day"), out


def activity_evidence(tables: QualityTables, first_day: int, end_day: int) -> ir.Table:
    """vehicle_id, day, energy_kwh of swaps and charges of project vehicles in the
    vintage [first_day, end_day) (on DuckDB ``activity_kernel`` gives the same rows)."""
    swaps = required(tables.swaps, "swap_events")
    batteries = tables.batteries.select(
        _bid=tables.batteries.battery_id, _cap=tables.batteries.capacity_kwh
    )
    swaps = swaps.left_join(batteries, swaps.battery_in_id == batteries._bid)
    swap_kwh = (
        swaps._cap.fill_null(0.0) * (swaps.soc_in_pct - swaps.soc_out_pct).clip(lower=0.0) / 100.0
    )
    swap_rows = swaps.select(
        vehicle_id=swaps.vehicle_id, day=local_day(swaps.ts), energy_kwh=swap_kwh
    )
    charges = required(tables.charges, "charge_sessions")
    fleet = tables.vehicles.select(_vid=tables.vehicles.vehicle_id)
    charges = charges.join(fleet, charges.vehicle_id == fleet._vid)
    charge_rows = charges.select(
        vehicle_id=charges.vehicle_id,
        day=local_day(charges.ts_start),
        energy_kwh=charges.energy_kwh,
    )
    rows = union_all([swap_rows, charge_rows])
    rows = rows.filter((rows.day >= first_day) & (rows.day < end_day))
    return rows.group_by(["vehicle_id", "day"]).aggregate(energy_kwh=rows.energy_kwh.sum())


def daily_distance(
    odometer: OdometerStep,
    gps_step: tuple[ir.Table, ir.Table, list[ir.Table]],
    evidence: ir.Table,
    tables: QualityTables,
    categories: ir.Table,
    params: ParameterSet,
    cache: Cache = no_cache,
) -> DistanceTables:
    """All quality-checked daily distances of every accepted vehicle.

    `odometer` and `gps_step` are the results of the odometer and GPS rules:
    ``odometer_step`` and ``gps_daily`` or, on DuckDB, the streaming kernels
    giving the same rows (``odometer_duckdb``, ``gps_duckdb``); `evidence`
    is ``activity_evidence``.
    """
    odo, reading_days, odometer_out = odometer
    out = list(odometer_out)
    gps, ping_days, gps_out = gps_step
    gps = cache(gps, "gps_daily")
    out.extend(gps_out)
    odo = odo.view()
    both = odo.outer_join(gps, [odo.vehicle_id == gps.vehicle_id, odo.day == gps.day])
    both = both.select(
        vehicle_id=both.vehicle_id.fill_null(both.vehicle_id_right),
        day=both.day.fill_null(both.day_right),
        odo_km=both.odo_km,
        odo_imputed=both.odo_imputed,
        gps_km=both.gps_km,
    )
    tolerance = params.gps_odometer_tolerance_pct / 100.0
    larger = ibis.greatest(both.odo_km, both.gps_km)
    mismatch = (both.odo_km.notnull() & both.gps_km.notnull()) & (
        (both.odo_km - both.gps_km).abs() > tolerance * larger
    )
    combined = both.mutate(
        distance_km=ibis.cases(
            (mismatch, ibis.least(both.odo_km, both.gps_km)),
            (both.odo_km.notnull(), both.odo_km),
            else_=both.gps_km,
        ),
        imputed=both.odo_imputed.fill_null(False) & both.gps_km.isnull(),
        source=ibis.cases(
            (both.odo_imputed.fill_null(False) & both.gps_km.isnull(), "odometer_gap"),
            (mismatch & (both.gps_km < both.odo_km), "gps"),
            (both.odo_km.notnull(), "odometer"),
            else_="gps",
        ),
        gps_mismatch=mismatch.fill_null(False),
    )
    vehicles = tables.vehicles.select(
        _vid=tables.vehicles.vehicle_id, _cat=tables.vehicles.category
    )
    cats = categories.select(
        _cat2=categories.category,
        _max=categories.max_daily_km,
        _secmax=categories.sec_max_kwh_per_km,
    )
    vehicle_cats = vehicles.join(cats, vehicles._cat == cats._cat2).select(
        "_vid", "_max", "_secmax"
    )
    combined = combined.join(vehicle_cats, combined.vehicle_id == vehicle_cats._vid)
    combined = cache(
        combined.select(
            "vehicle_id", "day", "distance_km", "imputed", "source", "gps_mismatch", "_max"
        ),
        "combined_daily",
    )
    rejected_days = combined.filter(combined.distance_km > combined._max).select(
        vehicle_id=combined.vehicle_id,
        day=combined.day,
        distance_km=combined.distance_km,
        reason=ibis.literal(ReasonCode.DAILY_KM_EXCEEDED.value),
    )
    valid = combined.filter(combined.distance_km <= combined._max)
    filled = cache(_evidence_fill(evidence, combined, valid, vehicle_cats, params, cache), "filled")
    daily = union_all(
        [
            valid.select("vehicle_id", "day", "distance_km", "imputed", "source", "gps_mismatch"),
            filled,
        ]
    )
    telematics = union_all([reading_days, ping_days])
    return DistanceTables(
        daily=daily,
        rejected_days=rejected_days,
        evidence=evidence,
        telematics=telematics,
        rejected=union_all(out),
    )


def _evidence_fill(
    evidence: ir.Table,
    covered: ir.Table,
    valid: ir.Table,
    vehicle_cats: ir.Table,
    params: ParameterSet,
    cache: Cache = no_cache,
) -> ir.Table:
    """Evidence days without distance: min(p10 of prior observed days, energy / SEC_max).

    The days to fill are few (stored, so the engine knows how few): the join
    with the vehicle's observed days is then built on them, not on every
    observed day of the fleet.
    """
    cover = covered.select(_cv=covered.vehicle_id, _cd=covered.day)
    gaps = evidence.left_join(cover, [evidence.vehicle_id == cover._cv, evidence.day == cover._cd])
    gaps = cache(gaps.filter(gaps._cv.isnull()).select("vehicle_id", "day", "energy_kwh"), "gaps")
    observed = valid.filter(~valid.imputed)
    observed = observed.select(_ov=observed.vehicle_id, _od=observed.day, _okm=observed.distance_km)
    prior = gaps.join(
        observed,
        [
            gaps.vehicle_id == observed._ov,
            observed._od < gaps.day,
            observed._od >= gaps.day - LOOKBACK_DAYS,
        ],
    )
    recent = ibis.window(group_by=[prior.vehicle_id, prior.day], order_by=ibis.desc(prior._od))
    prior = prior.mutate(_recency=ibis.row_number().over(recent))
    prior = prior.filter(prior._recency < params.p10_window_days)
    by_km = ibis.window(group_by=[prior.vehicle_id, prior.day], order_by=[prior._okm, prior._od])
    whole = ibis.window(group_by=[prior.vehicle_id, prior.day])
    prior = prior.mutate(_rank=ibis.row_number().over(by_km), _n=prior._okm.count().over(whole))
    # Nearest-rank 10th percentile: the ceil(0.1 n)-th smallest, in integers.
    p10 = prior.filter(prior._rank == (prior._n + 9) // 10 - 1)
    p10 = p10.select(_pv=p10.vehicle_id, _pd=p10.day, _p10=p10._okm)
    fill = gaps.left_join(p10, [gaps.vehicle_id == p10._pv, gaps.day == p10._pd])
    fill = fill.join(vehicle_cats, fill.vehicle_id == vehicle_cats._vid)
    energy_km = fill.energy_kwh / fill._secmax
    return fill.select(
        vehicle_id=fill.vehicle_id,
        day=fill.day,
        distance_km=ibis.least(fill._p10.fill_null(0.0), energy_km).clip(lower=0.0),
        imputed=ibis.literal(True),
        source=ibis.literal("evidence_fill"),
        gps_mismatch=ibis.literal(False),
    )
