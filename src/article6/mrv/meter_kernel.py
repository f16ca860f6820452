"""Meter readings of a DuckDB run: the meter rules and station totals in one pass.

The rules and sums of ``energy.meter_consumption``, ``meter_interval`` and
``energy.metered_energy`` (duplicate keys, unknown and excluded meters,
register decreases, interval spans, the interval check per meter-day,
calibration factors and coverage) give one row per station. Meter data is
small beside the fleet's (readings per station, not per vehicle), so the
readings are sorted in memory and walked meter by meter (``meter_walk``);
as SQL the same rules take four window functions and two range joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from article6.mrv.gps_io import micros
from article6.mrv.gps_numba import compiled, local_day
from article6.mrv.params import ParameterSet
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

# Row status, in the order of precedence of the rules.
OK, DUPLICATE, UNKNOWN_METER, METER_EXCLUDED, DECREASE = range(5)
REASONS = pa.array(
    [
        None,
        ReasonCode.DUPLICATE_KEY.value,
        ReasonCode.UNKNOWN_METER.value,
        ReasonCode.METER_EXCLUDED.value,
        ReasonCode.METER_DECREASE.value,
    ],
    pa.string(),
)
REJECTED_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("reason", pa.string()),
        ("meter_id", pa.string()),
        ("cumulative_kwh", pa.float64()),
    ]
)
METERED_SCHEMA = pa.schema(
    [
        ("station_id", pa.string()),
        ("metered_raw_kwh", pa.float64()),
        ("interval_mismatch_days", pa.int64()),
        ("interval_excess_kwh", pa.float64()),
        ("metered_kwh", pa.float64()),
        ("calibration_adjusted", pa.bool_()),
        ("uncalibrated_days", pa.int64()),
    ]
)
GRID_IMPORT = "grid_import"


@dataclass(frozen=True)
class MeterResult:
    """``metered``: one row per station (``METERED_SCHEMA``); ``rejected``: the
    rejected readings (``REJECTED_SCHEMA``), for the engine to render."""

    metered: pa.Table
    rejected: pa.Table


@compiled
def meter_walk(
    meter: NDArray[np.int64],
    ts: NDArray[np.int64],
    cumulative: NDArray[np.float64],
    interval: NDArray[np.float64],
    status: NDArray[np.int8],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Decreases, and the register steps with the interval energy of their span.

    Rows are sorted by meter, then time, file and row, and those of `status`
    OK are walked in order (the others are already rejected). A reading below
    an earlier one of its meter is a decrease (`status` set); a step runs
    from one accepted reading to the next, and its interval energy is the
    sum over its reading and the decreases just before it (NaN if one lacks
    a value). Returns each step's meter, local day, energy and interval energy.
    """
    n = meter.shape[0]
    out_meter = np.empty(n, np.int64)
    out_day = np.empty(n, np.int64)
    out_energy = np.empty(n, np.float64)
    out_interval = np.empty(n, np.float64)
    steps = 0
    current = -1
    highest = 0.0
    previous = 0.0
    have_previous = False
    span = 0.0
    for i in range(n):
        if status[i] != 0:
            continue
        if meter[i] != current:
            current, highest, have_previous, span = meter[i], cumulative[i], False, 0.0
        elif cumulative[i] < highest:
            status[i] = 4  # DECREASE
            span += interval[i]
            continue
        highest = max(highest, cumulative[i])
        span += interval[i]
        if have_previous:
            out_meter[steps] = current
            out_day[steps] = local_day(ts[i])
            out_energy[steps] = cumulative[i] - previous
            out_interval[steps] = span
            steps += 1
        previous, have_previous, span = cumulative[i], True, 0.0
    return out_meter[:steps], out_day[:steps], out_energy[:steps], out_interval[:steps]


def run_meter_kernel(
    readings: Path,
    meters: pa.Table,
    known_meters: list[str],
    calibrations: pa.Table,
    params: ParameterSet,
    first_day: int,
    end_day: int,
) -> MeterResult:
    """The meter rules and station totals of the vintage [first_day, end_day).

    `meters`: the accepted meters (meter_id, station_id, role,
    accuracy_class_pct); `known_meters`: every meter id, rejected or not;
    `calibrations`: the accepted calibrations (meter_id, date, error_pct,
    passed).
    """
    columns = ["meter_id", "ts", "cumulative_kwh", "interval_kwh", SOURCE_FILE, SOURCE_ROW]
    table = pq.read_table(readings, columns=columns)
    ids = table.column("meter_id").combine_chunks()
    ts = micros(table.column("ts"))
    files = table.column(SOURCE_FILE).combine_chunks()
    rows = np.asarray(table.column(SOURCE_ROW).to_numpy(), np.int64)
    # One sort serves every rule: a key's copies next to each other, first by
    # file and row, and each meter's readings in the windows' order.
    name_code = _codes(ids, pc.unique(ids))
    file_rank = _codes(files, pc.unique(files).sort())
    order = np.lexsort((rows, file_rank, ts, name_code))
    status = np.zeros(len(order), np.int8)
    sorted_names, sorted_ts = name_code[order], ts[order]
    repeat = (sorted_names[1:] == sorted_names[:-1]) & (sorted_ts[1:] == sorted_ts[:-1])
    status[1:][repeat] = DUPLICATE
    meter = _codes(ids, meters.column("meter_id").combine_chunks())[order]
    known = (_codes(ids, pa.array(known_meters, pa.string())) >= 0)[order]
    status[(status == OK) & ~known] = UNKNOWN_METER
    status[(status == OK) & (meter < 0)] = METER_EXCLUDED
    cumulative = _floats(table.column("cumulative_kwh"))[order]
    interval = _floats(table.column("interval_kwh"))[order]
    step_meter, step_day, energy, span = meter_walk(meter, sorted_ts, cumulative, interval, status)
    rejected = np.flatnonzero(status != OK)
    bad = order[rejected]
    return MeterResult(
        metered=_metered(
            (step_meter, step_day, energy, span), meters, calibrations, params, first_day, end_day
        ),
        rejected=pa.table(
            {
                "source_file": files.take(pa.array(bad)).cast(pa.string()),
                "source_row": pa.array(rows[bad], pa.int64()),
                "reason": REASONS.take(pa.array(status[rejected].astype(np.int64))),
                "meter_id": ids.take(pa.array(bad)).cast(pa.string()),
                "cumulative_kwh": pa.array(_floats(table.column("cumulative_kwh"))[bad]),
            },
            schema=REJECTED_SCHEMA,
        ),
    )


def _codes(values: pa.Array, among: pa.Array) -> NDArray[np.int64]:
    """Each value's position in `among`, -1 if absent."""
    return np.asarray(pc.index_in(values, value_set=among).fill_null(-1).to_numpy(), np.int64)


def _floats(column: pa.ChunkedArray) -> NDArray[np.float64]:
    """Values as floats, empty ones as NaN."""
    return np.asarray(column.to_numpy(), np.float64)


def _metered(
    steps: tuple[NDArray[Any], ...],
    meters: pa.Table,
    calibrations: pa.Table,
    params: ParameterSet,
    first_day: int,
    end_day: int,
) -> pa.Table:
    """The steps of grid-import meters summed per meter-day (``meter_interval.meter_days``),
    with the E10 factor and calibration coverage (``energy._calibrated``), per station."""
    meter, day, energy, span = steps
    roles = np.array(meters.column("role").to_pylist(), object)
    keep = (roles[meter] == GRID_IMPORT) & (day >= first_day) & (day < end_day)
    meter, day, energy, span = meter[keep], day[keep], energy[keep], span[keep]
    # Steps come by meter and time: a meter-day's are next to each other.
    if meter.shape[0] == 0:
        return METERED_SCHEMA.empty_table()
    starts = np.flatnonzero(
        np.concatenate([[True], (meter[1:] != meter[:-1]) | (day[1:] != day[:-1])])
    )
    checked = ~np.isnan(span)
    register = np.add.reduceat(energy, starts)
    checked_register = np.add.reduceat(np.where(checked, energy, 0.0), starts)
    interval = np.add.reduceat(np.where(checked, span, 0.0), starts)
    intervals = np.add.reduceat(checked.astype(np.int64), starts)
    day_meter, day_day = meter[starts], day[starts]
    gap = interval - checked_register
    tolerance = params.meter_interval_tolerance_pct / 100.0
    mismatch = (intervals > 0) & (np.abs(gap) > tolerance * np.abs(checked_register))
    counted = register + np.where(mismatch, np.maximum(gap, 0.0), 0.0)
    factor, calibrated = _calibration(day_meter, day_day, meters, calibrations, params)
    station_names = meters.column("station_id").combine_chunks()
    stations = pc.unique(station_names)
    station = _codes(station_names, stations)[day_meter]
    count = len(stations)

    present = np.flatnonzero(np.bincount(station, minlength=count) > 0)

    def total(values: NDArray[Any]) -> NDArray[np.float64]:
        """Per station with meter-days: the sum (or, of flags, the count)."""
        return np.asarray(np.bincount(station, values, count)[present], np.float64)

    return pa.table(
        {
            "station_id": stations.take(pa.array(present)),
            "metered_raw_kwh": total(register),
            "interval_mismatch_days": total(mismatch).astype(np.int64),
            "interval_excess_kwh": total(counted - register),
            "metered_kwh": total(counted * factor),
            "calibration_adjusted": total(factor > 1.0) > 0,
            "uncalibrated_days": total(~calibrated).astype(np.int64),
        },
        schema=METERED_SCHEMA,
    )


def _calibration(
    meter: NDArray[np.int64],
    day: NDArray[np.int64],
    meters: pa.Table,
    calibrations: pa.Table,
    params: ParameterSet,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per meter-day: the E10 factor of the calibration closing its period (a day after
    one calibration and up to the next belongs to the next), and whether a passed
    calibration covers it (within ``calibration_validity_days`` after one)."""
    cal_meter = _codes(
        calibrations.column("meter_id").combine_chunks(),
        meters.column("meter_id").combine_chunks(),
    )
    known = cal_meter >= 0
    factor, calibrated = np.ones(meter.shape[0]), np.zeros(meter.shape[0], np.bool_)
    if not known.any():
        return factor, calibrated
    cal_day = np.asarray(calibrations.column("date").cast(pa.int32()).to_numpy(), np.int64)[known]
    error = np.abs(_floats(calibrations.column("error_pct")))[known]
    passed = np.asarray(calibrations.column("passed").to_numpy(zero_copy_only=False), np.bool_)
    passed = passed[known]
    cal_meter = cal_meter[known]
    failing = ~passed | (error > _floats(meters.column("accuracy_class_pct"))[cal_meter])
    width = np.int64(1) << 32  # meter and day as one sortable key
    order = np.lexsort((cal_day, cal_meter))
    keys = cal_meter[order] * width + cal_day[order]
    wanted = meter * width + day
    # The first calibration on or after the day, if of the same meter, closes its period.
    after = np.minimum(np.searchsorted(keys, wanted, side="left"), keys.shape[0] - 1)
    closing = order[after]
    closes = (cal_meter[closing] == meter) & (cal_day[closing] >= day) & failing[closing]
    factor = np.where(closes, 1.0 + error[closing] / 100.0, 1.0)
    # The latest passed calibration on or before the day covers it for a while.
    good = order[passed[order]]
    if good.shape[0] == 0:
        return factor, calibrated
    good_keys = cal_meter[good] * width + cal_day[good]
    latest = good[np.maximum(np.searchsorted(good_keys, wanted, side="right") - 1, 0)]
    validity = params.calibration_validity_days
    calibrated = (
        (cal_meter[latest] == meter) & (cal_day[latest] <= day) & (day < cal_day[latest] + validity)
    )
    return factor, calibrated
