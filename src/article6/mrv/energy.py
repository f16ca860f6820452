"""Station energy per vintage from meter readings (E5 and E10 inputs).

A station's energy is the sum over its ``grid_import`` meters (for off-grid
diesel stations the supply meter carries that role) of the increases of the
cumulative reading, each increase belonging to the local day of the later
reading. Sub-meters and PV generation meters are not added: sub-meters measure
part of the same energy and self-consumed solar counts zero.

Rules, in the direction that never understates project emissions:

- a reading below an earlier one of the same meter is quarantined;
- per meter and local day, the meter's interval energy must match its
  register increases within ``meter_interval_tolerance_pct``, else the higher
  of the two counts (``meter_interval``);
- (E10) when a calibration finds an error beyond the accuracy class (or
  fails), the energy since the previous calibration is raised by the error;
- days metered without a passed calibration in the previous
  ``calibration_validity_days`` are counted and flagged;
- the year's metered total is compared with the utility invoices whose
  period ends in the year; beyond ``invoice_tolerance_pct`` the higher wins;
- metered sessions of vehicles outside the project are taken out; stations
  that served no project vehicle in the year are not counted.

Energy is then attributed to fleet segments: swap cabinets to the ``swap``
segment, chargers by the energy of their project sessions per battery mode
(``fixed`` when they recorded none).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from article6.mrv.meter_interval import meter_days, with_interval_spans
from article6.mrv.params import ParameterSet
from article6.mrv.quality import (
    Cache,
    QualityTables,
    local_day,
    no_cache,
    reference_rule,
    required,
    split,
    union_all,
)
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW


@dataclass(frozen=True)
class EnergyTables:
    """``stations``: one row per station for the vintage; ``segments``: station × segment shares."""

    stations: ir.Table
    segments: ir.Table
    rejected: ir.Table


def meter_consumption(
    readings: ir.Table, tables: QualityTables, all_meter_ids: ir.Column, cache: Cache = no_cache
) -> tuple[ir.Table, list[ir.Table]]:
    """meter_id, station_id, role, accuracy_class_pct, day, energy_kwh, interval_kwh per step.

    A step is the register increase between two accepted readings;
    ``interval_kwh`` is what the meter recorded as interval energy over it.
    The readings with their spans are stored once: the steps and the
    quarantine both read them, and their window functions cost far more
    than the rows.
    """
    out: list[ir.Table] = []
    kept, bads = reference_rule(
        readings,
        "meter_readings",
        "meter_id",
        tables.meters.meter_id,
        all_meter_ids,
        ReasonCode.UNKNOWN_METER,
        ReasonCode.METER_EXCLUDED,
    )
    out.extend(bads)
    order = [kept.ts, kept[SOURCE_FILE], kept[SOURCE_ROW]]
    earlier = ibis.window(group_by=kept.meter_id, order_by=order, rows=(None, -1))
    kept = kept.mutate(_max_before=kept.cumulative_kwh.max().over(earlier))
    kept = cache(with_interval_spans(kept, kept.cumulative_kwh < kept._max_before), "meter_spans")
    kept, bad = split(
        kept,
        kept.cumulative_kwh < kept._max_before,
        "meter_readings",
        ReasonCode.METER_DECREASE,
        "cumulative_kwh",
        kept.cumulative_kwh,
    )
    out.append(bad)
    window = ibis.window(
        group_by=kept.meter_id, order_by=[kept.ts, kept[SOURCE_FILE], kept[SOURCE_ROW]]
    )
    steps = kept.mutate(_prev=kept.cumulative_kwh.lag().over(window))
    steps = steps.filter(steps._prev.notnull())
    meters = tables.meters.select(
        _mid=tables.meters.meter_id,
        station_id=tables.meters.station_id,
        role=tables.meters.role,
        accuracy_class_pct=tables.meters.accuracy_class_pct,
    )
    steps = steps.join(meters, steps.meter_id == meters._mid)
    return (
        steps.select(
            meter_id=steps.meter_id,
            station_id=steps.station_id,
            role=steps.role,
            accuracy_class_pct=steps.accuracy_class_pct,
            day=local_day(steps.ts),
            energy_kwh=steps.cumulative_kwh - steps._prev,
            interval_kwh=steps._span_kwh,
        ),
        out,
    )


def _calibrated(consumption: ir.Table, tables: QualityTables, params: ParameterSet) -> ir.Table:
    """Add E10 factor and whether a passed calibration covered the day."""
    cal = tables.calibrations
    window = ibis.window(group_by=cal.meter_id, order_by=cal.date)
    cal = cal.mutate(_day=cal.date.epoch_days().cast("int64"))
    cal = cal.mutate(_prev_day=cal._day.lag().over(window))
    meters = tables.meters.select(_m=tables.meters.meter_id, _acc=tables.meters.accuracy_class_pct)
    cal = cal.join(meters, cal.meter_id == meters._m)
    failing = ~cal.passed | (cal.error_pct.abs() > cal._acc)
    fails = cal.filter(failing).select(
        _fm=cal.meter_id,
        _from=cal._prev_day,
        _to=cal._day,
        _factor=1.0 + cal.error_pct.abs() / 100.0,
    )
    rows = consumption.mutate(
        _row=ibis.row_number().over(
            ibis.window(order_by=[consumption.meter_id, consumption.day, consumption.energy_kwh])
        )
    )
    adjusted = rows.left_join(
        fails,
        [
            rows.meter_id == fails._fm,
            fails._from.isnull() | (rows.day > fails._from),
            rows.day <= fails._to,
        ],
    )
    adjusted = adjusted.group_by([c for c in rows.columns]).aggregate(
        factor=adjusted._factor.max().fill_null(1.0)
    )
    valid = tables.calibrations.filter(tables.calibrations.passed)
    valid = valid.select(_vm=valid.meter_id, _vday=valid.date.epoch_days().cast("int64"))
    covered = adjusted.left_join(
        valid,
        [
            adjusted.meter_id == valid._vm,
            valid._vday <= adjusted.day,
            adjusted.day < valid._vday + params.calibration_validity_days,
        ],
    )
    covered = covered.group_by([c for c in adjusted.columns]).aggregate(
        calibrated=covered._vm.count() > 0
    )
    return covered.drop("_row")


@dataclass(frozen=True)
class StationActivity:
    """What the swaps and charges of a vintage say about each station.

    ``served``: station_id of each station with a swap or project charge;
    ``non_project``: station_id, non_project_kwh charged to vehicles outside
    the project; ``by_mode``: station_id, _mode, _kwh charged to project
    vehicles of each battery mode. On DuckDB the activity kernel
    (``activity_kernel``) gives the same rows.
    """

    served: ir.Table
    non_project: ir.Table
    by_mode: ir.Table


def station_activity(
    tables: QualityTables, all_vehicle_ids: ir.Column, first_day: int, end_day: int
) -> StationActivity:
    """The stations' activity of the vintage [first_day, end_day) from the accepted
    swaps and charges."""
    charges = required(tables.charges, "charge_sessions")
    charges = charges.mutate(_day=local_day(charges.ts_start))
    charges = charges.filter((charges._day >= first_day) & (charges._day < end_day))
    outside = charges.vehicle_id.isnull() | ~charges.vehicle_id.isin(all_vehicle_ids)
    non_project = (
        charges.filter(outside)
        .group_by("station_id")
        .aggregate(non_project_kwh=charges.energy_kwh.sum())
    )
    fleet = tables.vehicles.select(
        _vid=tables.vehicles.vehicle_id, _mode=tables.vehicles.battery_mode
    )
    project_charges = charges.join(fleet, charges.vehicle_id == fleet._vid)
    swaps = required(tables.swaps, "swap_events")
    swaps = swaps.mutate(_day=local_day(swaps.ts))
    swaps = swaps.filter((swaps._day >= first_day) & (swaps._day < end_day))
    served = union_all(
        [swaps.select("station_id"), project_charges.select("station_id")]
    ).distinct()
    by_mode = project_charges.group_by(["station_id", "_mode"]).aggregate(
        _kwh=project_charges.energy_kwh.sum()
    )
    return StationActivity(served=served, non_project=non_project, by_mode=by_mode)


@dataclass(frozen=True)
class MeteredEnergy:
    """Per station (``metered``): the meter rules' totals for the vintage; ``rejected``:
    the meter readings quarantined."""

    metered: ir.Table
    rejected: ir.Table


def metered_energy(
    readings: ir.Table,
    tables: QualityTables,
    all_meter_ids: ir.Column,
    first_day: int,
    end_day: int,
    params: ParameterSet,
    cache: Cache = no_cache,
) -> MeteredEnergy:
    """The meter readings of one vintage [first_day, end_day) after the meter rules,
    summed per station."""
    consumption, out = meter_consumption(readings, tables, all_meter_ids, cache)
    consumption = cache(consumption, "meter_consumption")
    consumption = consumption.filter(
        (consumption.role == "grid_import")
        & (consumption.day >= first_day)
        & (consumption.day < end_day)
    )
    days = cache(meter_days(consumption, params.meter_interval_tolerance_pct), "meter_days")
    checked = cache(_calibrated(days, tables, params), "meter_checked")
    metered = checked.group_by("station_id").aggregate(
        metered_raw_kwh=checked.register_kwh.sum(),
        interval_mismatch_days=checked.count(where=checked.interval_mismatch),
        interval_excess_kwh=(checked.energy_kwh - checked.register_kwh).sum(),
        metered_kwh=(checked.energy_kwh * checked.factor).sum(),
        calibration_adjusted=(checked.factor > 1.0).any(),
        uncalibrated_days=checked.count(where=~checked.calibrated),
    )
    return MeteredEnergy(metered=metered, rejected=cache(union_all(out), "meter_rejected"))


def station_energy(
    meters: MeteredEnergy,
    tables: QualityTables,
    activity: StationActivity,
    first_day: int,
    end_day: int,
    params: ParameterSet,
    cache: Cache = no_cache,
) -> EnergyTables:
    """Per-station energy of one vintage [first_day, end_day) and its segment shares."""
    metered = meters.metered
    inv = tables.invoices
    inv = inv.mutate(_end=inv.period_end.epoch_days().cast("int64"))
    inv = inv.filter((inv._end >= first_day) & (inv._end < end_day))
    invoiced = inv.group_by("station_id").aggregate(invoiced_kwh=inv.kwh_billed.sum())
    non_project = activity.non_project
    served = activity.served.mutate(serves_project=ibis.literal(True))

    st = tables.stations.select("station_id", "kind", "supply")
    st = st.left_join(metered, st.station_id == metered.station_id).drop("station_id_right")
    st = st.left_join(invoiced, st.station_id == invoiced.station_id).drop("station_id_right")
    st = st.left_join(non_project, st.station_id == non_project.station_id).drop("station_id_right")
    st = st.left_join(served, st.station_id == served.station_id).drop("station_id_right")
    st = st.mutate(
        metered_raw_kwh=st.metered_raw_kwh.fill_null(0.0),
        metered_kwh=st.metered_kwh.fill_null(0.0),
        interval_mismatch_days=st.interval_mismatch_days.fill_null(0),
        interval_excess_kwh=st.interval_excess_kwh.fill_null(0.0),
        calibration_adjusted=st.calibration_adjusted.fill_null(False),
        uncalibrated_days=st.uncalibrated_days.fill_null(0),
        non_project_kwh=st.non_project_kwh.fill_null(0.0),
        serves_project=st.serves_project.fill_null(False),
    )
    tolerance = params.invoice_tolerance_pct / 100.0
    mismatch = st.invoiced_kwh.notnull() & (
        (st.metered_kwh - st.invoiced_kwh).abs() > tolerance * st.invoiced_kwh.abs()
    )
    st = st.mutate(invoice_mismatch=mismatch.fill_null(False))
    reconciled = ibis.ifelse(
        st.invoice_mismatch, ibis.greatest(st.metered_kwh, st.invoiced_kwh), st.metered_kwh
    )
    st = st.mutate(
        reconciled_kwh=reconciled,
        energy_kwh=ibis.ifelse(
            st.serves_project, (reconciled - st.non_project_kwh).clip(lower=0.0), 0.0
        ),
    )
    segments = cache(_segment_shares(tables, activity.by_mode), "segment_shares")
    return EnergyTables(
        stations=cache(st, "station_energy"),
        segments=segments,
        rejected=meters.rejected,
    )


def _segment_shares(tables: QualityTables, by_mode: ir.Table) -> ir.Table:
    """station_id, segment, share: swap cabinets to 'swap', chargers by session energy."""
    stations = tables.stations
    cabinets = stations.filter(stations.kind == "swap_cabinet").select(
        station_id=stations.station_id, segment=ibis.literal("swap"), share=ibis.literal(1.0)
    )
    totals = by_mode.group_by("station_id").aggregate(_total=by_mode._kwh.sum())
    shares = by_mode.join(totals, "station_id")
    shares = shares.filter(shares._total > 0).select(
        station_id=shares.station_id, segment=shares._mode, share=shares._kwh / shares._total
    )
    chargers = stations.filter(stations.kind != "swap_cabinet")
    known = shares.select(_sid=shares.station_id).distinct()
    fallback = chargers.left_join(known, chargers.station_id == known._sid)
    fallback = fallback.filter(fallback._sid.isnull()).select(
        station_id=fallback.station_id, segment=ibis.literal("fixed"), share=ibis.literal(1.0)
    )
    charger_ids = chargers.select(_cid=chargers.station_id)
    charger_shares = shares.join(charger_ids, shares.station_id == charger_ids._cid).select(
        "station_id", "segment", "share"
    )
    return union_all([cabinets, charger_shares, fallback])
