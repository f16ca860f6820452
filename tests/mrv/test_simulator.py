"""The fleet simulator: layout, determinism, internal consistency, injected faults."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from article6.mrv.ingest import ingest_dataset
from article6.mrv.schema import SCHEMAS
from article6.mrv.sim_faults import ALL_FAULT_KINDS
from article6.mrv.simulator import (
    SimulationConfig,
    read_manifest,
    read_untracked_truth,
    simulate_fleet,
)

START = date(2025, 3, 1)


def _simulate(tmp: Path, **overrides: object) -> Path:
    settings: dict[str, object] = {
        "vehicles": 150,
        "start": START,
        "days": 45,
        "out_dir": tmp,
        "seed": 11,
    }
    settings.update(overrides)
    simulate_fleet(SimulationConfig(**settings))  # type: ignore[arg-type]
    return tmp


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    return _simulate(out, gps=True, fault_rate=0.12, ping_interval_s=120, untracked_share=0.15)


@pytest.fixture(scope="module")
def clean_year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    return _simulate(out, vehicles=120, days=365, seed=5, untracked_share=0.2)


def _read(folder: Path, record_type: str) -> pd.DataFrame:
    return pq.read_table(folder / f"{record_type}.parquet").to_pandas()


def test_every_record_type_has_exactly_the_methodology_columns(faulty: Path) -> None:
    for record_type, schema in SCHEMAS.items():
        path = faulty / f"{record_type}.parquet"
        assert pq.read_schema(path).names == list(schema.column_names), record_type


def test_ingestion_accepts_every_row_in_both_formats(tmp_path: Path, faulty: Path) -> None:
    csv_dir = _simulate(tmp_path / "csv", output_format="csv", fault_rate=0.12, untracked_share=0.1)
    assert (csv_dir / "odometer_surveys.csv").read_text().count("\n") > 1
    timestamp = (csv_dir / "odometer_readings.csv").read_text().splitlines()[1].split(",")[1]
    assert timestamp.strip('"').endswith("Z") and "T" in timestamp
    for folder in (faulty, csv_dir):
        report = ingest_dataset(folder, tmp_path / f"stage-{folder.name}")
        read, accepted, quarantined = report.totals()
        assert quarantined == 0 and read == accepted > 0
        manifest = json.loads((folder / "manifest.json").read_text())
        assert report.totals("odometer_readings")[0] == manifest["rows"]["odometer_readings"]


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    first = _simulate(tmp_path / "a", vehicles=60, days=30, fault_rate=0.3)
    second = _simulate(tmp_path / "b", vehicles=60, days=30, fault_rate=0.3)
    third = _simulate(tmp_path / "c", vehicles=60, days=30, fault_rate=0.3, seed=12)
    for record_type in ("vehicles", "odometer_readings", "swap_events", "meter_readings"):
        assert _read(first, record_type).equals(_read(second, record_type))
    assert not _read(first, "odometer_readings").equals(_read(third, "odometer_readings"))
    assert read_manifest(first) == read_manifest(second)


def test_chunks_become_parquet_row_groups(tmp_path: Path) -> None:
    out = _simulate(tmp_path, vehicles=100, days=25, chunk_vehicles=30)
    assert pq.ParquetFile(out / "odometer_readings.parquet").num_row_groups == 4
    assert len(_read(out, "vehicles")) == 100
    # By default every vehicle has a device and nobody is surveyed by hand.
    assert _read(out, "device_assignments").vehicle_id.nunique() == 100
    assert _read(out, "odometer_surveys").empty and read_untracked_truth(out) == []


def _untracked(folder: Path) -> set[str]:
    assigned = set(_read(folder, "device_assignments").vehicle_id)
    return set(_read(folder, "vehicles").vehicle_id) - assigned


def test_untracked_vehicles_swap_and_charge_but_report_no_distance(faulty: Path) -> None:
    vehicles = _read(faulty, "vehicles").set_index("vehicle_id")
    untracked = _untracked(faulty)
    assert len(untracked) == round(0.15 * 150)
    assert set(vehicles.owner_type[sorted(untracked)]) == {"private_sale"}
    driven = {row["vehicle_id"] for row in read_untracked_truth(faulty)}
    assert driven and driven <= untracked
    activity = set(_read(faulty, "swap_events").vehicle_id)
    activity |= set(_read(faulty, "charge_sessions").vehicle_id)
    assert len(driven & activity) >= 0.8 * len(driven)
    # Readings and pings come only from assigned devices: untracked vehicles send nothing.
    devices = set(_read(faulty, "device_assignments").device_id)
    assert set(_read(faulty, "odometer_readings").device_id) <= devices
    assert set(_read(faulty, "gps_pings").device_id) <= devices
    unknown = set(_rows(faulty, "survey_unknown_vehicle"))
    surveys = _read(faulty, "odometer_surveys")
    surveyed = set(surveys.vehicle_id[~surveys.index.isin(unknown)])
    assert surveyed and surveyed <= untracked


def test_surveys_read_the_true_distance_of_sampled_vehicles(clean_year: Path) -> None:
    surveys = _read(clean_year, "odometer_surveys")
    assert not read_manifest(clean_year)
    surveys["year"] = pd.to_datetime(surveys.date).dt.year
    truth = {(r["vehicle_id"], r["year"]): r["true_km"] for r in read_untracked_truth(clean_year)}
    samples = json.loads((clean_year / "manifest.json").read_text())["survey_samples"]
    assert {s["year"] for s in samples} == {2025, 2026}
    vehicles = _read(clean_year, "vehicles").set_index("vehicle_id")
    for sample in samples:
        in_sample = surveys[
            (surveys.year == sample["year"])
            & (vehicles.category.reindex(surveys.vehicle_id).to_numpy() == sample["category"])
        ]
        assert in_sample.vehicle_id.nunique() == sample["sample_n"] <= sample["frame"]
    for (vehicle, year), readings in surveys.groupby(["vehicle_id", "year"]):
        readings = readings.sort_values("date")
        assert len(readings) >= 3 and readings.date.is_unique
        assert readings.odometer_km.is_monotonic_increasing
        surveyed_km = readings.odometer_km.iloc[-1] - readings.odometer_km.iloc[0]
        true_km = truth[(vehicle, year)]
        assert 0.3 * true_km <= surveyed_km <= true_km + 1.0, (vehicle, year)


def test_untracked_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="private sales"):
        _simulate(tmp_path, untracked_share=0.9)
    with pytest.raises(ValueError, match="untracked share"):
        _simulate(tmp_path, untracked_share=-0.1)
    with pytest.raises(ValueError, match="e_bus"):
        _simulate(tmp_path, untracked_share=0.1, undersampled=("e_bus",))


def test_vehicle_odometer_never_decreases_without_faults(clean_year: Path) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    folder = str(clean_year)
    decreases = con.execute(
        f"""
        WITH km AS (
          SELECT a.vehicle_id, r.ts, r.odometer_km + a.odometer_offset_km AS vehicle_km
          FROM '{folder}/odometer_readings.parquet' r
          JOIN '{folder}/device_assignments.parquet' a
            ON a.device_id = r.device_id AND r.ts >= a.valid_from
           AND (a.valid_to IS NULL OR r.ts < a.valid_to)
        )
        SELECT count(*) FROM (
          SELECT vehicle_km - lag(vehicle_km) OVER (PARTITION BY vehicle_id ORDER BY ts) AS step
          FROM km
        ) WHERE step < -0.15
        """
    ).fetchone()
    swaps_or_resets = con.execute(
        f"SELECT count(*) FROM '{folder}/device_assignments.parquet' WHERE valid_to IS NOT NULL"
    ).fetchone()
    assert decreases == (0,)
    assert swaps_or_resets is not None and swaps_or_resets[0] > 0


def test_meters_agree_with_swaps_and_sessions(clean_year: Path) -> None:
    swaps = _read(clean_year, "swap_events")
    sessions = _read(clean_year, "charge_sessions")
    readings = _read(clean_year, "meter_readings")
    stations = _read(clean_year, "stations")
    delivered_kwh = (2.2 * (swaps.soc_in_pct - swaps.soc_out_pct) / 100 / 0.9).sum()
    charged_kwh = sessions.energy_kwh.sum()
    metered = readings.groupby("meter_id").cumulative_kwh.agg(lambda s: s.max() - s.min()).sum()
    standby_bound_kwh = 1.5 * len(stations) * 365
    assert delivered_kwh + charged_kwh <= metered <= delivered_kwh + charged_kwh + standby_bound_kwh
    # Swap cabinets draw roughly what the swapped batteries held, a few vehicles' worth daily.
    assert 0.03 < delivered_kwh / max(1.0, swaps.shape[0]) < 2.2


def test_meter_intervals_match_the_register_without_faults(clean_year: Path) -> None:
    readings = _read(clean_year, "meter_readings")
    register = readings.groupby("meter_id").cumulative_kwh.diff()
    first = register.isna()
    assert first.sum() == readings.meter_id.nunique()
    assert readings.interval_kwh[first].isna().all()
    assert readings.interval_kwh[~first].notna().all()
    assert (readings.interval_kwh[~first] - register[~first]).abs().max() < 1e-6


def test_swap_batteries_follow_each_vehicle(clean_year: Path) -> None:
    swaps = _read(clean_year, "swap_events").sort_values(["vehicle_id", "ts"])
    same_vehicle = swaps.vehicle_id.eq(swaps.vehicle_id.shift())
    chained = swaps.battery_out_id.eq(swaps.battery_in_id.shift())
    assert bool(chained[same_vehicle].all())
    assert bool((swaps.soc_out_pct < swaps.soc_in_pct).all())


def test_gps_tracks_match_the_odometer(faulty: Path) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    folder = str(faulty)
    ratio = con.execute(
        f"""
        WITH p AS (
          SELECT device_id, ts, lat, lon,
                 lag(lat) OVER w AS plat, lag(lon) OVER w AS plon, lag(ts) OVER w AS pts
          FROM '{folder}/gps_pings.parquet' WINDOW w AS (PARTITION BY device_id ORDER BY ts)
        ), g AS (
          SELECT device_id, CAST(ts + INTERVAL 7 HOUR AS DATE) AS day,
                 sum(2 * 6371 * asin(sqrt(pow(sin(radians(lat - plat) / 2), 2)
                     + cos(radians(lat)) * cos(radians(plat))
                     * pow(sin(radians(lon - plon) / 2), 2)))) AS km
          FROM p WHERE CAST(pts + INTERVAL 7 HOUR AS DATE) = CAST(ts + INTERVAL 7 HOUR AS DATE)
          GROUP BY ALL
        ), o AS (
          SELECT device_id, CAST(ts + INTERVAL 7 HOUR AS DATE) AS day,
                 odometer_km - lag(odometer_km) OVER (PARTITION BY device_id ORDER BY ts) AS km
          FROM '{folder}/odometer_readings.parquet'
        )
        SELECT quantile_cont(g.km / o.km, 0.5) FROM g JOIN o USING (device_id, day)
        WHERE o.km > 5
        """
    ).fetchone()
    assert ratio is not None and 0.97 < ratio[0] < 1.03


def test_without_faults_every_device_record_falls_in_an_assignment(tmp_path: Path) -> None:
    """A device reports only while fitted: its first trip on the commissioning day
    (from 05:00 local) and its last before decommissioning are assigned."""
    folder = str(_simulate(tmp_path, vehicles=80, days=40, gps=True, ping_interval_s=600))
    con = duckdb.connect()
    for record_type in ("gps_pings", "odometer_readings"):
        outside = con.execute(
            f"""
            SELECT count(*) FROM '{folder}/{record_type}.parquet' r
            WHERE NOT EXISTS (
              SELECT 1 FROM '{folder}/device_assignments.parquet' a
              WHERE a.device_id = r.device_id AND r.ts >= a.valid_from
                AND (a.valid_to IS NULL OR r.ts < a.valid_to))
            """
        ).fetchone()
        total = con.execute(f"SELECT count(*) FROM '{folder}/{record_type}.parquet'").fetchone()
        assert outside is not None and total is not None
        assert total[0] > 0 and outside[0] == 0, record_type


def test_every_fault_kind_is_injected_and_points_at_its_row(faulty: Path) -> None:
    entries = read_manifest(faulty)
    assert {entry.kind for entry in entries} == set(ALL_FAULT_KINDS)
    for entry in entries:
        frame = _read(faulty, entry.record_type)
        row = frame.iloc[entry.row]
        for column, value in entry.key.items():
            if column in frame.columns:
                cell = row[column]
                if isinstance(cell, pd.Timestamp):
                    cell = cell.strftime("%Y-%m-%dT%H:%M:%SZ")
                elif isinstance(cell, date):
                    cell = cell.isoformat()
                assert cell == value, (entry, column)


def _rows(folder: Path, kind: str) -> list[int]:
    return [entry.row for entry in read_manifest(folder) if entry.kind == kind]


def test_injected_faults_break_their_rules(faulty: Path) -> None:
    _check_faults_break_their_rules(faulty)


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_faults_break_their_rules_for_other_seeds(tmp_path: Path, seed: int) -> None:
    folder = _simulate(
        tmp_path, vehicles=90, days=30, seed=seed, fault_rate=0.3, untracked_share=0.1
    )
    assert {e.kind for e in read_manifest(folder)} == set(ALL_FAULT_KINDS) - {
        "gps_jump",
        "outside_cambodia",
    }
    _check_faults_break_their_rules(folder)


def _check_faults_break_their_rules(faulty: Path) -> None:
    vehicles = _read(faulty, "vehicles")
    for kind, column in (("duplicate_vin", "vin"), ("duplicate_plate", "plate")):
        for row in _rows(faulty, kind):
            assert (vehicles[column] == vehicles[column].iloc[row]).sum() == 2
    for row in _rows(faulty, "before_er_rights_date"):
        assert vehicles.er_rights_signed_date.iloc[row] > vehicles.commission_date.iloc[row]
    for row in _rows(faulty, "no_er_rights"):
        assert pd.isna(vehicles.er_rights_signed_date.iloc[row])
    extract = _read(faulty, "other_programme_vehicles")
    for row in _rows(faulty, "other_programme_vehicle"):
        assert vehicles.vin.iloc[row] in set(extract.vin)
    swaps = _read(faulty, "swap_events")
    for row in _rows(faulty, "unknown_vehicle"):
        assert swaps.vehicle_id.iloc[row] not in set(vehicles.vehicle_id)

    readings = _read(faulty, "odometer_readings").reset_index(names="row")
    readings = readings.sort_values(["device_id", "ts"])
    readings["step_km"] = readings.groupby("device_id").odometer_km.diff()
    readings["step_s"] = readings.groupby("device_id").ts.diff().dt.total_seconds()
    by_row = readings.set_index("row")
    for row in _rows(faulty, "odometer_decrease"):
        assert by_row.step_km[row] < 0
    for row in _rows(faulty, "excessive_daily_km"):
        assert by_row.step_km[row] > 400
    for row in _rows(faulty, "implied_speed"):
        assert by_row.step_km[row] / (by_row.step_s[row] / 3600) > 1.1 * 95
    for kind, days in (("gap_short", 4), ("gap_long", 9)):
        for row in _rows(faulty, kind):
            assert by_row.step_s[row] > (days - 0.2) * 86_400

    assignments = _read(faulty, "device_assignments")
    for row in _rows(faulty, "device_on_two_vehicles"):
        device = assignments.device_id.iloc[row]
        assert assignments[assignments.device_id == device].vehicle_id.nunique() == 2

    pings = _read(faulty, "gps_pings") if (faulty / "gps_pings.parquet").exists() else None
    for row in _rows(faulty, "outside_cambodia"):
        assert pings is not None
        assert pings.lon.iloc[row] < 102.3
    for row in _rows(faulty, "gps_jump"):
        assert pings is not None
        assert abs(pings.lat.iloc[row] - pings.lat.iloc[row - 1]) > 0.05

    stations = _read(faulty, "stations")
    for row in _rows(faulty, "other_programme_station"):
        assert stations.other_programme_id.iloc[row].startswith("GS-")
    meter_readings = _read(faulty, "meter_readings")
    for row in _rows(faulty, "meter_decrease"):
        assert meter_readings.cumulative_kwh.iloc[row] < meter_readings.cumulative_kwh.iloc[row - 1]
    for row in _rows(faulty, "meter_interval_mismatch"):
        previous, this = meter_readings.iloc[row - 1], meter_readings.iloc[row]
        assert previous.meter_id == this.meter_id
        register = this.cumulative_kwh - previous.cumulative_kwh
        assert abs(this.interval_kwh - register) > 0.005 * abs(register)
    calibrations = _read(faulty, "meter_calibrations")
    for row in _rows(faulty, "calibration_failed"):
        assert not calibrations.passed.iloc[row]
    batteries = _read(faulty, "batteries")
    for row in _rows(faulty, "duplicate_battery_id"):
        assert (batteries.battery_id == batteries.battery_id.iloc[row]).sum() == 2

    surveys = _read(faulty, "odometer_surveys")
    for row in _rows(faulty, "survey_duplicate_key"):
        same = surveys[
            (surveys.vehicle_id == surveys.vehicle_id.iloc[row])
            & (surveys.date == surveys.date.iloc[row])
        ]
        assert len(same) == 2 and same.index[0] < row
    for row in _rows(faulty, "survey_unknown_vehicle"):
        assert surveys.vehicle_id.iloc[row] not in set(vehicles.vehicle_id)
    for row in _rows(faulty, "survey_decrease"):
        earlier = surveys[
            (surveys.vehicle_id == surveys.vehicle_id.iloc[row])
            & (surveys.date < surveys.date.iloc[row])
        ]
        assert surveys.odometer_km.iloc[row] < earlier.odometer_km.max()


def test_decommissioned_vehicle_reports_after_its_date(faulty: Path) -> None:
    vehicles = _read(faulty, "vehicles").set_index("vehicle_id")
    for entry in read_manifest(faulty):
        if entry.kind != "readings_after_decommission":
            continue
        decommissioned = vehicles.decommission_date[entry.key["vehicle_id"]]
        reading_local_day = (pd.Timestamp(entry.key["ts"]) + timedelta(hours=7)).date()
        assert reading_local_day >= decommissioned


def test_vehicle_without_activity_evidence_has_no_swaps_or_sessions(faulty: Path) -> None:
    swaps = _read(faulty, "swap_events")
    sessions = _read(faulty, "charge_sessions")
    for entry in read_manifest(faulty):
        if entry.kind == "no_activity_evidence":
            vehicle = entry.key["vehicle_id"]
            assert vehicle not in set(swaps.vehicle_id) | set(sessions.vehicle_id)


def test_invoice_mismatch_exceeds_tolerance_and_others_do_not(faulty: Path) -> None:
    invoices = _read(faulty, "utility_invoices")
    meters = _read(faulty, "meters")
    readings = _read(faulty, "meter_readings").merge(meters, on="meter_id")
    grid = readings[readings.role == "grid_import"].copy()
    grid["local_day"] = (grid.ts + pd.Timedelta(hours=7)).dt.date
    mismatched = set(_rows(faulty, "invoice_mismatch"))
    for index, invoice in invoices.iterrows():
        station = grid[grid.station_id == invoice.station_id]
        start = station[station.local_day == invoice.period_start].cumulative_kwh.iloc[0]
        end_day = invoice.period_end + timedelta(days=1)
        end = station[station.local_day == end_day].cumulative_kwh.iloc[0]
        if end - start < 1.0:  # solar covered the whole period: nothing billed, nothing to skew
            assert invoice.kwh_billed < 1.0 and index not in mismatched
            continue
        deviation_pct = abs(invoice.kwh_billed - (end - start)) / (end - start) * 100
        if index in mismatched:
            assert deviation_pct > 2.0
        elif (station.cumulative_kwh.diff() >= 0).all():
            assert deviation_pct < 2.0


def test_fault_injection_needs_a_long_enough_window(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 21 days"):
        _simulate(tmp_path, days=10, fault_rate=0.1)
    with pytest.raises(ValueError, match="vehicles"):
        _simulate(tmp_path, vehicles=0)


def test_simulate_command_writes_and_reports(tmp_path: Path) -> None:
    import typer

    from article6.cli.mrv_planning import register

    app = typer.Typer()

    @app.callback()
    def group() -> None:
        """MRV."""

    register(app)
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            *("simulate", "--vehicles", "40", "--start", "2025-01-01", "--days", "25"),
            *("--out", str(out), "--fault-rate", "0.3", "--format", "csv", "--seed", "3", "--json"),
            *("--untracked-share", "0.2", "--undersample", "e_motorcycle"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows"]["vehicles"] == 40
    assert summary["rows"]["odometer_surveys"] > 0
    assert summary["rows"]["device_assignments"] < 40 + summary["faults"]["device_on_two_vehicles"]
    assert (out / "vehicles.csv").exists() and (out / "manifest.json").exists()
    assert sum(summary["faults"].values()) == len(read_manifest(out))
    bad = CliRunner().invoke(
        app,
        [
            *("simulate", "--vehicles", "5", "--start", "2025-01-01", "--days", "5"),
            *("--out", str(tmp_path / "x"), "--format", "xml"),
        ],
    )
    assert bad.exit_code == 2
    bad = CliRunner().invoke(
        app,
        [
            *("simulate", "--vehicles", "5", "--start", "2025-01-01", "--days", "5"),
            *("--out", str(tmp_path / "y"), "--untracked-share", "0.1", "--undersample", "e_bus"),
        ],
    )
    assert bad.exit_code == 2 and "e_bus" in bad.output
