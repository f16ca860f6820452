"""A synthetic but realistic monitoring data set for the e-motorcycle fleet.

Real fleet data cannot be shared before verification, yet the quality rules,
the calculation pipeline and its benchmarks need data that looks like it:
rollout over time, donated scooters beside commercial motorcycles, device
swaps, battery swaps and charging that agree with the distance driven, station
meters that agree with the swaps, solar stations, and bills. On request a
share of the vehicles has no telematics device, and a sample of them is
surveyed by hand each year (`sim_surveys`), so the (E9) sampling path runs on
data too. The simulator draws all of it from one seed, writes every record
type of the monitoring plan, and can inject one fault per chosen vehicle,
station or survey reading so tests can check that each one is caught. The
manifest lists those faults, the survey sample sizes and the true distance
of every untracked vehicle, which no record type holds. Vehicles are
generated in chunks and written as they come, so memory depends on the chunk
size, not on the fleet size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from article6.mrv.sim_activity import ChunkTable, VehicleChunk
from article6.mrv.sim_faults import FaultPlan, ManifestEntry, plan_faults
from article6.mrv.sim_fleet import CATEGORIES, Fleet, draw_fleet, total_batteries
from article6.mrv.sim_gps import gps_blocks
from article6.mrv.sim_output import RECORD_SCHEMAS, OutputFormat, RecordWriters
from article6.mrv.sim_stations import (
    MeterSet,
    batteries_table,
    non_project_sessions,
    stations_table,
)
from article6.mrv.sim_surveys import (
    mark_untracked,
    plan_surveys,
    survey_table,
    untracked_true_km,
)

MAX_VEHICLES = 2_000_000
MAX_DAYS = 3_660
DEFAULT_CHUNK_VEHICLES = 2_000
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicles": ("vehicle_id",),
    "device_assignments": ("device_id", "vehicle_id", "valid_from"),
    "odometer_readings": ("device_id", "ts"),
    "odometer_surveys": ("vehicle_id", "date"),
    "gps_pings": ("device_id", "ts"),
    "swap_events": ("event_id", "vehicle_id"),
    "batteries": ("battery_id",),
    "stations": ("station_id",),
    "meter_readings": ("meter_id", "ts"),
    "meter_calibrations": ("meter_id", "date"),
    "utility_invoices": ("station_id", "period_start"),
}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; `fault_rate` is the share of vehicles that carry one fault.

    `untracked_share` of all vehicles (taken from the private sales) have no
    telematics device; a survey sample of them is read by hand each year
    (see `sim_surveys`), sized by (E9) except for the categories named in
    `undersampled`, which get too few on purpose. The default of 0 keeps
    every vehicle tracked, as the benchmarks and most tests expect.
    """

    vehicles: int
    start: date
    days: int
    out_dir: Path
    seed: int = 0
    gps: bool = False
    fault_rate: float = 0.0
    output_format: OutputFormat = "parquet"
    ping_interval_s: int = 30
    chunk_vehicles: int = DEFAULT_CHUNK_VEHICLES
    untracked_share: float = 0.0
    undersampled: tuple[str, ...] = ()

    def check(self) -> None:
        """Reject impossible settings before any file is written."""
        if not 1 <= self.vehicles <= MAX_VEHICLES:
            raise ValueError(f"vehicles must lie in 1..{MAX_VEHICLES}, got {self.vehicles}")
        if not 1 <= self.days <= MAX_DAYS:
            raise ValueError(f"days must lie in 1..{MAX_DAYS}, got {self.days}")
        if self.output_format not in ("csv", "parquet"):
            raise ValueError(f"format must be csv or parquet, got {self.output_format!r}")
        if not 1 <= self.ping_interval_s <= 3600:
            raise ValueError(f"ping interval must lie in 1..3600 s, got {self.ping_interval_s}")
        if self.chunk_vehicles < 1:
            raise ValueError("chunk_vehicles must be positive")
        if not 0.0 <= self.untracked_share < 1.0:
            raise ValueError(f"untracked share must lie in [0, 1), got {self.untracked_share}")
        unknown = sorted(set(self.undersampled) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories to undersample: {', '.join(unknown)}")


@dataclass(frozen=True)
class SimulationSummary:
    """Where the data went and how much of it there is."""

    out_dir: Path
    rows: dict[str, int]
    faults: list[ManifestEntry] = field(default_factory=list)
    manifest_path: Path | None = None

    def as_json(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for entry in self.faults:
            by_kind[entry.kind] = by_kind.get(entry.kind, 0) + 1
        return {
            "out_dir": str(self.out_dir),
            "rows": self.rows,
            "faults": by_kind,
            "manifest": str(self.manifest_path) if self.manifest_path else None,
        }


ProgressCallback = Callable[[int, int], None]


def _key_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write(writers: RecordWriters, chunk: ChunkTable, manifest: list[ManifestEntry]) -> None:
    first_row = writers.next_row(chunk.record_type)
    columns = KEY_COLUMNS.get(chunk.record_type, ())
    for kind, row, vehicle_id in chunk.fault_rows:
        key = {c: _key_value(chunk.table.column(c)[row].as_py()) for c in columns}
        if vehicle_id:
            key.setdefault("vehicle_id", vehicle_id)
        manifest.append(ManifestEntry(kind, chunk.record_type, key, first_row + row))
    writers.write(chunk.record_type, chunk.table)


def simulate_fleet(
    config: SimulationConfig, progress: ProgressCallback | None = None
) -> SimulationSummary:
    """Generate the data set described by `config` into `config.out_dir`.

    The same config (seed included) always produces byte-identical rows.
    `progress(done, total)` is called after each chunk of vehicles.
    """
    config.check()
    fleet_rng = np.random.default_rng([config.seed, 1])
    fleet, stations = draw_fleet(fleet_rng, config.vehicles, config.days)
    # A stream of its own, so that a fleet without untracked vehicles is drawn as before.
    survey_rng = np.random.default_rng([config.seed, 4])
    fleet = mark_untracked(survey_rng, fleet, config.untracked_share)
    plan, fleet = plan_faults(
        fleet_rng, fleet, stations, config.days, config.fault_rate, config.gps
    )
    surveys = plan_surveys(
        survey_rng, fleet, config.start, config.days, config.undersampled, config.fault_rate
    )
    truth: list[dict[str, Any]] = []
    station_energy_kwh = np.zeros((stations.size, config.days))
    manifest: list[ManifestEntry] = []
    swap_number, session_number = 1, 1
    with RecordWriters(config.out_dir, config.output_format) as writers:
        for record_type in RECORD_SCHEMAS:
            if record_type != "gps_pings" or config.gps:
                writers.write(record_type, RECORD_SCHEMAS[record_type].empty_table())
        for chunk_index, lo in enumerate(range(0, config.vehicles, config.chunk_vehicles)):
            hi = min(lo + config.chunk_vehicles, config.vehicles)
            rng = np.random.default_rng([config.seed, 2, chunk_index])
            chunk = VehicleChunk(rng, fleet, stations, plan, lo, hi, config.start, config.days)
            _write(writers, chunk.vehicles(), manifest)
            _write(writers, chunk.device_assignments(), manifest)
            _write(writers, chunk.odometer_readings(), manifest)
            _write(writers, survey_table(chunk, surveys), manifest)
            truth += untracked_true_km(chunk)
            swaps = chunk.swap_events(swap_number, station_energy_kwh)
            swap_number += swaps.table.num_rows
            _write(writers, swaps, manifest)
            sessions = chunk.charge_sessions(session_number, station_energy_kwh)
            session_number += sessions.table.num_rows
            _write(writers, sessions, manifest)
            if config.gps:
                for block in gps_blocks(chunk, config.ping_interval_s):
                    _write(writers, block, manifest)
            if progress is not None:
                progress(hi, config.vehicles)
        _write(writers, other_programme_extract(fleet, plan), manifest)
        station_rng = np.random.default_rng([config.seed, 3])
        _write(
            writers,
            non_project_sessions(
                station_rng, stations, config.start, config.days, session_number, station_energy_kwh
            ),
            manifest,
        )
        _write(writers, stations_table(stations, plan, config.start), manifest)
        pool = total_batteries(fleet, stations)
        _write(writers, batteries_table(station_rng, plan, stations, pool, config.start), manifest)
        meters = MeterSet(station_rng, stations, config.start, config.days, station_energy_kwh)
        _write(writers, meters.meters_table(), manifest)
        _write(writers, meters.readings_table(plan), manifest)
        _write(writers, meters.calibrations_table(plan), manifest)
        _write(writers, meters.invoices_table(plan), manifest)
        rows = dict(writers.rows_written)
    manifest_path = config.out_dir / "manifest.json"
    document = {
        "seed": config.seed,
        "vehicles": config.vehicles,
        "start": config.start.isoformat(),
        "days": config.days,
        "gps": config.gps,
        "fault_rate": config.fault_rate,
        "untracked_share": config.untracked_share,
        "undersampled": list(config.undersampled),
        "format": config.output_format,
        "rows": rows,
        "faults": [_manifest_item(entry, config.output_format) for entry in manifest],
        "survey_samples": surveys.samples,
        "untracked_true_km": truth,
    }
    manifest_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return SimulationSummary(config.out_dir, rows, manifest, manifest_path)


def _manifest_item(entry: ManifestEntry, output_format: OutputFormat) -> dict[str, Any]:
    """A manifest line; `source_row` numbers rows the way ingestion reports them."""
    item = entry.as_json()
    item["file"] = f"{entry.record_type}.{output_format}"
    item["source_row"] = entry.row + (2 if output_format == "csv" else 1)
    return item


def other_programme_extract(fleet: Fleet, plan: FaultPlan) -> ChunkTable:
    """Vehicles registered under another programme: a few outsiders plus the planted ones."""
    planted = np.flatnonzero(plan.vehicle_fault == plan.code("other_programme_vehicle"))
    outsiders = 5
    table = pa.table(
        {
            "programme_id": ["VCS-2291"] * (outsiders + planted.shape[0]),
            "vin": [f"KH9OT{i:012d}" for i in range(outsiders)] + list(fleet.vins[planted]),
            "plate": [f"KD-9Z-{i:05d}" for i in range(outsiders)] + list(fleet.plates[planted]),
        }
    )
    return ChunkTable("other_programme_vehicles", table)


def read_manifest(out_dir: Path) -> list[ManifestEntry]:
    """The injected faults of a simulated data set, as written by `simulate_fleet`."""
    document = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    return [
        ManifestEntry(item["kind"], item["record_type"], dict(item["key"]), int(item["row"]))
        for item in document["faults"]
    ]


def read_untracked_truth(out_dir: Path) -> list[dict[str, Any]]:
    """True distance per untracked vehicle and calendar year: what sampling should estimate."""
    document = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    return list(document.get("untracked_true_km", []))


def empty_table(record_type: str) -> pa.Table:
    """A table with the columns of one record type and no rows."""
    return RECORD_SCHEMAS[record_type].empty_table()
