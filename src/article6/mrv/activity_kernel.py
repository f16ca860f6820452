"""Swap events and charge sessions of a DuckDB run, checked and summed in two passes.

The identity rules ``quality`` applies to these records (duplicate keys,
known and accepted stations and vehicles), the activity evidence of each
vehicle-day (``distance.activity_evidence``) and the stations' activity
(``energy.station_activity``), with the same rows as the Ibis expressions
but without their hash aggregates over millions of string keys:

the records are read in stored order, a duplicate key known from a first
pass over the keys alone (``activity_io``); ids are looked up through each
batch's dictionary (a few thousand entries), not row by row; the rules and
sums then take one compiled pass per batch (``activity_numba``), and energy
is left per event, for the daily kernel to sum per vehicle-day.

Memory grows with the accepted events of the vintage (16 bytes each) and the
rows held back, not with the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from article6.mrv import activity_numba as a
from article6.mrv.activity_io import CHARGES, SWAPS, RepeatedKeys, batches, repeated_keys
from article6.mrv.gps_io import micros
from article6.mrv.gps_numba import read_only
from article6.mrv.ingest import QUARANTINE_SCHEMA
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    from article6.mrv.daily_inbox import Inbox

# Reason of each row code, in the order of precedence of ``quality``'s rules.
OK, DUPLICATE, UNKNOWN_STATION, STATION_EXCLUDED, UNKNOWN_VEHICLE, VEHICLE_EXCLUDED = range(6)
REASONS = pa.array(
    [
        None,
        ReasonCode.DUPLICATE_KEY.value,
        ReasonCode.UNKNOWN_STATION.value,
        ReasonCode.STATION_EXCLUDED.value,
        ReasonCode.UNKNOWN_VEHICLE.value,
        ReasonCode.VEHICLE_EXCLUDED.value,
    ],
    pa.string(),
)


@dataclass(frozen=True)
class Reference:
    """The accepted and known ids the rules look records up in (all small)."""

    vehicles: list[str]
    """Accepted vehicles; a vehicle's code is its position."""
    modes: list[str]
    """Battery mode of each accepted vehicle."""
    known_vehicles: frozenset[str]
    stations: list[str]
    """Accepted stations; a station's code is its position."""
    known_stations: frozenset[str]
    capacity_kwh: dict[str, float]
    """Capacity of each accepted battery."""


@dataclass(frozen=True)
class ActivityResult:
    """``evidence``: vehicle_id, day, energy_kwh of each accepted swap and charge of
    a project vehicle (the daily kernel sums them per day), empty if they went to
    an inbox; ``served``: station_id of stations with accepted project activity;
    ``non_project``: station_id, non_project_kwh; ``by_mode``: station_id, _mode,
    _kwh of project charges; ``rejected``: the quarantine rows. All within the
    vintage but the quarantine."""

    evidence: pa.Table
    served: pa.Table
    non_project: pa.Table
    by_mode: pa.Table
    rejected: pa.Table


@dataclass
class _Sums:
    """What the accepted rows of the vintage add up to so far."""

    reference: Reference
    inbox: Inbox | None
    vehicle: list[NDArray[np.int32]] = field(default_factory=list)
    day: list[NDArray[np.int32]] = field(default_factory=list)
    energy: list[NDArray[np.float64]] = field(default_factory=list)
    served: NDArray[np.bool_] = field(init=False)
    non_project_kwh: NDArray[np.float64] = field(init=False)
    non_project_rows: NDArray[np.int64] = field(init=False)
    mode_kwh: NDArray[np.float64] = field(init=False)
    mode_rows: NDArray[np.int64] = field(init=False)
    rejected: list[pa.Table] = field(default_factory=list)

    def __post_init__(self) -> None:
        stations = len(self.reference.stations)
        self.mode_names = sorted(set(self.reference.modes))
        mode_code = {m: i for i, m in enumerate(self.mode_names)}
        modes = [mode_code[m] for m in self.reference.modes]
        self.vehicle_mode = read_only(np.array(modes, np.int64))
        self.served = np.zeros(stations, np.bool_)
        self.non_project_kwh = np.zeros(stations)
        self.non_project_rows = np.zeros(stations, np.int64)
        self.mode_kwh = np.zeros(stations * len(self.mode_names))
        self.mode_rows = np.zeros(stations * len(self.mode_names), np.int64)


def run_activity_kernel(
    staging_dir: Path,
    reference: Reference,
    first_day: int,
    end_day: int,
    repeated: RepeatedKeys | None = None,
    inbox: Inbox | None = None,
) -> ActivityResult:
    """Check the staged swap events and charge sessions and sum their activity
    (`repeated`: the first pass's result, if it has run). With an `inbox`, the
    evidence goes there (vehicle, day, energy_kwh) instead of into the result."""
    repeated = repeated_keys(staging_dir) if repeated is None else repeated
    if inbox is not None:
        inbox.vehicles_are(reference.vehicles)
    sums = _Sums(reference, inbox)
    lookup = _Lookup(reference)
    swaps = batches(staging_dir / f"{SWAPS}.parquet", SWAPS, _SWAP_COLUMNS, repeated[SWAPS])
    for batch, duplicate in swaps:
        _swaps(batch, duplicate, lookup, sums, first_day, end_day)
    path = staging_dir / f"{CHARGES}.parquet"
    for batch, duplicate in batches(path, CHARGES, _CHARGE_COLUMNS, repeated[CHARGES]):
        _charges(batch, duplicate, lookup, sums, first_day, end_day)
    return _result(sums)


_SWAP_COLUMNS = ["station_id", "vehicle_id", "battery_in_id", "ts", "soc_out_pct", "soc_in_pct"]
_CHARGE_COLUMNS = ["station_id", "vehicle_id", "ts_start", "energy_kwh"]


class _Lookup:
    """Codes and rule outcomes of a batch's dictionary entries (a few thousand),
    looked up in dictionaries built once rather than row by row."""

    def __init__(self, reference: Reference) -> None:
        def outcome(
            accepted: list[str], known: frozenset[str], unknown: int, excluded: int
        ) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
            """Each known word's code and outcome, and the outcome of any other word."""
            table = {word: (-1, excluded) for word in known}
            table.update({word: (code, OK) for code, word in enumerate(accepted)})
            return table, (-1, unknown)

        self.stations_ = outcome(
            reference.stations, reference.known_stations, UNKNOWN_STATION, STATION_EXCLUDED
        )
        self.vehicles_ = outcome(
            reference.vehicles, reference.known_vehicles, UNKNOWN_VEHICLE, VEHICLE_EXCLUDED
        )
        self.known_vehicles = reference.known_vehicles
        self.capacity = reference.capacity_kwh

    def stations(self, words: pa.Array) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
        """Each station's code (-1 if not accepted) and the rule it breaks."""
        return _status(words.to_pylist(), *self.stations_)

    def vehicles(self, words: pa.Array) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
        """Each vehicle's code (-1 if not accepted) and the rule it breaks."""
        return _status(words.to_pylist(), *self.vehicles_)

    def known(self, words: pa.Array) -> NDArray[np.bool_]:
        known = [w in self.known_vehicles for w in words.to_pylist()]
        return read_only(np.array(known, np.bool_))

    def capacities(self, words: pa.Array) -> NDArray[np.float64]:
        """Capacity of each battery; 0 for one not accepted (the left join's null, filled)."""
        capacity = [self.capacity.get(w, 0.0) for w in words.to_pylist()]
        return read_only(np.array(capacity, np.float64))


def _status(
    words: list[str | None], table: dict[str, tuple[int, int]], other: tuple[int, int]
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Code and the reference rule broken: unknown, excluded or none.

    An empty value breaks neither (as in SQL, where a test on NULL is not true).
    """
    found = [(-1, OK) if w is None else table.get(w, other) for w in words]
    codes = np.array([code for code, _ in found], np.int64)
    return read_only(codes), read_only(np.array([status for _, status in found], np.int8))


def _codes(column: pa.ChunkedArray) -> tuple[pa.Array, NDArray[np.int32]]:
    """A string column's dictionary and each row's entry (-1 for an empty value)."""
    array = column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    indices = array.indices.fill_null(-1) if array.null_count else array.indices
    return array.dictionary, read_only(np.asarray(indices.to_numpy(), np.int32))


def _floats(column: pa.ChunkedArray) -> NDArray[np.float64]:
    """Values as float64, an empty value as NaN."""
    return read_only(np.asarray(column.to_numpy(), np.float64))


Evidence = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]
"""Vehicle code, day and energy_kwh of accepted swaps or charges."""


def _evidence_rows(rows: int) -> Evidence:
    return np.empty(rows, np.int32), np.empty(rows, np.int32), np.empty(rows, np.float64)


def _swaps(
    batch: pa.Table,
    duplicate: NDArray[np.bool_],
    lookup: _Lookup,
    sums: _Sums,
    first_day: int,
    end_day: int,
) -> None:
    stations, station_index = _codes(batch.column("station_id"))
    vehicles, vehicle_index = _codes(batch.column("vehicle_id"))
    batteries, battery_index = _codes(batch.column("battery_in_id"))
    rows = (
        read_only(duplicate),
        station_index,
        vehicle_index,
        battery_index,
        read_only(micros(batch.column("ts"))),
        _floats(batch.column("soc_in_pct")),
        _floats(batch.column("soc_out_pct")),
    )
    lookups = (*lookup.stations(stations), *lookup.vehicles(vehicles), lookup.capacities(batteries))
    reason = np.empty(batch.num_rows, np.int8)
    evidence = _evidence_rows(batch.num_rows)
    kept = a.swap_rows(rows, lookups, (first_day, end_day), reason, sums.served, evidence)
    _reject(batch, reason, SWAPS, sums)
    _add_evidence(sums, evidence, kept)


def _charges(
    batch: pa.Table,
    duplicate: NDArray[np.bool_],
    lookup: _Lookup,
    sums: _Sums,
    first_day: int,
    end_day: int,
) -> None:
    stations, station_index = _codes(batch.column("station_id"))
    vehicles, vehicle_index = _codes(batch.column("vehicle_id"))
    rows = (
        read_only(duplicate),
        station_index,
        vehicle_index,
        read_only(micros(batch.column("ts_start"))),
        _floats(batch.column("energy_kwh")),
    )
    vehicle_code, _ = lookup.vehicles(vehicles)
    lookups = (*lookup.stations(stations), vehicle_code, lookup.known(vehicles), sums.vehicle_mode)
    totals = (
        sums.served,
        sums.non_project_kwh,
        sums.non_project_rows,
        sums.mode_kwh,
        sums.mode_rows,
    )
    reason = np.empty(batch.num_rows, np.int8)
    evidence = _evidence_rows(batch.num_rows)
    kept = a.charge_rows(rows, lookups, (first_day, end_day), reason, totals, evidence)
    _reject(batch, reason, CHARGES, sums)
    _add_evidence(sums, evidence, kept)


def _add_evidence(sums: _Sums, evidence: Evidence, rows: int) -> None:
    """The first `rows` of a batch's evidence, to the inbox or the result."""
    vehicle, day, energy = evidence[0][:rows], evidence[1][:rows], evidence[2][:rows]
    if sums.inbox is not None:
        sums.inbox.add(vehicle, day, energy)
        return
    sums.vehicle.append(vehicle.copy())  # the batch's buffers are larger
    sums.day.append(day.copy())
    sums.energy.append(energy.copy())


_COLUMN_OF = {
    DUPLICATE: None,  # the key column
    UNKNOWN_STATION: "station_id",
    STATION_EXCLUDED: "station_id",
    UNKNOWN_VEHICLE: "vehicle_id",
    VEHICLE_EXCLUDED: "vehicle_id",
}


def _reject(batch: pa.Table, reason: NDArray[np.int8], record_type: str, sums: _Sums) -> None:
    """The quarantine rows of a batch, in the layout of ``quality.rejects``."""
    rows = np.flatnonzero(reason != OK)
    if rows.shape[0] == 0:
        return
    bad = batch.take(pa.array(rows))
    codes = reason[rows]
    key = SCHEMAS[record_type].key[0]
    columns = np.array([_COLUMN_OF[c] or key for c in range(1, len(REASONS))], object)
    named = columns[codes - 1]
    detail = np.full(rows.shape[0], "", object)
    for column in ("station_id", "vehicle_id"):
        here = named == column
        if here.any():
            values = np.array(bad.column(column).cast(pa.string()).to_pylist(), object)
            detail[here] = [v if v is not None else "" for v in values[here]]
    sums.rejected.append(
        pa.table(
            {
                "record_type": pa.array([record_type] * rows.shape[0], pa.string()),
                "source_file": bad.column(SOURCE_FILE).cast(pa.string()),
                "source_row": bad.column(SOURCE_ROW),
                "column": pa.array(named.tolist(), pa.string()),
                "reason": REASONS.take(pa.array(codes.astype(np.int64))),
                "detail": pa.array(detail.tolist(), pa.string()),
            },
            schema=QUARANTINE_SCHEMA,
        )
    )


def _result(sums: _Sums) -> ActivityResult:
    reference = sums.reference
    names = pa.array(reference.vehicles, pa.string())

    def joined(parts: list[NDArray[Any]], kind: type[np.generic]) -> NDArray[Any]:
        """The parts as one array; each part is let go at once, so at most one column
        is held twice."""
        whole = np.concatenate(parts) if parts else np.zeros(0, kind)
        parts.clear()
        return whole

    evidence = pa.table(
        {
            "vehicle_id": pa.DictionaryArray.from_arrays(
                pa.array(joined(sums.vehicle, np.int32)), names
            ),
            "day": pa.array(joined(sums.day, np.int32)),
            "energy_kwh": pa.array(joined(sums.energy, np.float64)),
        }
    )
    stations = np.array(reference.stations, object)
    served = pa.table({"station_id": pa.array(stations[sums.served].tolist(), pa.string())})
    has = sums.non_project_rows > 0
    non_project = pa.table(
        {
            "station_id": pa.array(stations[has].tolist(), pa.string()),
            "non_project_kwh": pa.array(sums.non_project_kwh[has], pa.float64()),
        }
    )
    modes = len(sums.mode_names)
    slots = np.flatnonzero(sums.mode_rows > 0)
    by_mode = pa.table(
        {
            "station_id": pa.array(stations[slots // modes].tolist(), pa.string()),
            "_mode": pa.array([sums.mode_names[s % modes] for s in slots], pa.string()),
            "_kwh": pa.array(sums.mode_kwh[slots], pa.float64()),
        }
    )
    rejected = pa.concat_tables(sums.rejected) if sums.rejected else QUARANTINE_SCHEMA.empty_table()
    return ActivityResult(evidence, served, non_project, by_mode, rejected)
