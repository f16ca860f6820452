"""Ingestion: schema checks, quarantine with reason and source, reconciliation, hash."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mrv_builder import basic_fleet

from article6.mrv.ingest import IngestError, IngestReport, ingest_dataset, input_hash


def ingest(tmp_path: Path, fmt: str = "csv") -> tuple[Path, IngestReport]:
    data = basic_fleet().write(tmp_path / "data", fmt)
    return data, ingest_dataset(data, tmp_path / "stage")


def quarantine(tmp_path: Path) -> list[dict[str, object]]:
    return pq.read_table(tmp_path / "stage" / "quarantine.parquet").to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_clean_dataset_is_fully_accepted(tmp_path: Path, fmt: str) -> None:
    _, report = ingest(tmp_path, fmt)
    assert report.totals("odometer_readings") == (62, 62, 0)
    assert report.totals("vehicles") == (2, 2, 0)
    assert report.totals()[2] == 0
    staged = pq.read_table(tmp_path / "stage" / "odometer_readings.parquet")
    assert staged.num_rows == 62
    assert str(staged.schema.field("ts").type) == "timestamp[us]"
    rows = staged.column("_source_row").to_pylist()
    assert rows[0] == (2 if fmt == "csv" else 1)
    # Optional record types absent from the folder become empty tables.
    assert pq.read_table(tmp_path / "stage" / "gps_pings.parquet").num_rows == 0


def test_csv_and_parquet_give_the_same_rows(tmp_path: Path) -> None:
    data_csv = basic_fleet().write(tmp_path / "a", "csv")
    data_pq = basic_fleet().write(tmp_path / "b", "parquet")
    ingest_dataset(data_csv, tmp_path / "sa")
    ingest_dataset(data_pq, tmp_path / "sb")
    for name in ("vehicles", "odometer_readings", "swap_events", "meter_readings"):
        a = pq.read_table(tmp_path / "sa" / f"{name}.parquet").drop_columns(
            ["_source_file", "_source_row"]
        )
        b = pq.read_table(tmp_path / "sb" / f"{name}.parquet").drop_columns(
            ["_source_file", "_source_row"]
        )
        assert a.equals(b), name


def test_bad_rows_go_to_quarantine_with_location(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    path = data / "odometer_readings.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("1000.0", "12x")  # row 2: not a number
    lines[2] = lines[2].replace("Z", "+07:00")  # row 3: local time
    parts = lines[3].split(",")
    parts[0] = ""  # row 4: missing device
    lines[3] = ",".join(parts)
    lines[4] = lines[4].replace("2025-01-04T", "2025-02-30T")  # row 5: no such day
    path.write_text("\n".join(lines) + "\n")
    report = ingest_dataset(data, tmp_path / "stage")
    assert report.totals("odometer_readings") == (62, 58, 4)
    rows = {(r["source_row"], r["column"], r["reason"]) for r in quarantine(tmp_path)}
    assert rows == {
        (2, "odometer_km", "bad_type"),
        (3, "ts", "non_utc_timestamp"),
        (4, "device_id", "missing_value"),
        (5, "ts", "bad_type"),
    }
    assert all(r["source_file"] == "odometer_readings.csv" for r in quarantine(tmp_path))
    assert dict(report.quarantine_by_reason)["bad_type"] == 2


def test_bad_code_is_quarantined(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    path = data / "vehicles.csv"
    path.write_text(path.read_text().replace(",swap,", ",hover,", 1))
    report = ingest_dataset(data, tmp_path / "stage")
    assert report.totals("vehicles") == (2, 1, 1)
    (row,) = quarantine(tmp_path)
    assert (row["source_row"], row["column"], row["reason"]) == (2, "battery_mode", "bad_value")
    assert "hover" in str(row["detail"])


def test_missing_column_is_an_error_naming_file_and_column(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    path = data / "meters.csv"
    path.write_text(path.read_text().replace("accuracy_class_pct", "accuracy"))
    with pytest.raises(IngestError, match=r"meters\.csv, column accuracy_class_pct: missing"):
        ingest_dataset(data, tmp_path / "stage")


def test_unknown_column_is_an_error(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    path = data / "stations.csv"
    text = path.read_text().splitlines()
    text = [line + ",x" for line in text]
    text[0] = text[0][:-2] + ",colour"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(IngestError, match=r"stations\.csv, column colour: unknown"):
        ingest_dataset(data, tmp_path / "stage")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    (data / "meters.csv").write_bytes(b"")
    with pytest.raises(IngestError, match=r"meters\.csv: empty file"):
        ingest_dataset(data, tmp_path / "stage")


def test_non_utf8_names_the_row(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    path = data / "vehicles.csv"
    raw = path.read_bytes().replace(b"Phnom Penh", b"Phnom P\xe9nh", 2)
    path.write_bytes(raw)
    with pytest.raises(IngestError, match=r"vehicles\.csv, row 2: text is not UTF-8"):
        ingest_dataset(data, tmp_path / "stage")


def test_missing_required_record_type(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    (data / "stations.csv").unlink()
    with pytest.raises(IngestError, match="missing record type stations"):
        ingest_dataset(data, tmp_path / "stage")


def test_parquet_wrong_type_and_zone(tmp_path: Path) -> None:
    import pyarrow as pa

    data = basic_fleet().write(tmp_path / "data", "parquet")
    table = pq.read_table(data / "odometer_readings.parquet")
    local = table.set_column(
        1, "ts", table.column("ts").cast(pa.timestamp("us", "Asia/Phnom_Penh"))
    )
    pq.write_table(local, data / "odometer_readings.parquet")
    with pytest.raises(IngestError, match=r"column ts: timestamps in time zone Asia/Phnom_Penh"):
        ingest_dataset(data, tmp_path / "stage")
    wrong = table.set_column(2, "odometer_km", pa.array([True] * table.num_rows))
    pq.write_table(wrong, data / "odometer_readings.parquet")
    with pytest.raises(IngestError, match=r"column odometer_km: wrong type bool"):
        ingest_dataset(data, tmp_path / "stage")


def test_folder_of_files_and_hash(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    first = input_hash(data)
    lines = (data / "odometer_readings.csv").read_text().splitlines()
    (data / "odometer_readings.csv").unlink()
    folder = data / "odometer_readings"
    folder.mkdir()
    (folder / "part-1.csv").write_text("\n".join(lines[:31]) + "\n")
    (folder / "part-2.csv").write_text("\n".join([lines[0], *lines[31:]]) + "\n")
    report = ingest_dataset(data, tmp_path / "stage")
    assert report.totals("odometer_readings") == (62, 62, 0)
    files = {s.source_file for s in report.sources if s.record_type == "odometer_readings"}
    assert files == {"odometer_readings/part-1.csv", "odometer_readings/part-2.csv"}
    assert report.input_hash != first
    assert input_hash(data) == report.input_hash
    (folder / "part-2.csv").write_text("\n".join([lines[0], *lines[31:-1]]) + "\n")
    assert input_hash(data) != report.input_hash


def test_file_and_folder_together_is_an_error(tmp_path: Path) -> None:
    data = basic_fleet().write(tmp_path / "data")
    (data / "vehicles").mkdir()
    (data / "vehicles" / "more.csv").write_text((data / "vehicles.csv").read_text())
    with pytest.raises(IngestError, match="vehicles given more than once"):
        ingest_dataset(data, tmp_path / "stage")


def _without_interval_column(data: Path, fmt: str) -> None:
    if fmt == "csv":
        path = data / "meter_readings.csv"
        lines = [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]
        assert lines[0] == "meter_id,ts,cumulative_kwh"
        path.write_text("\n".join(lines) + "\n")
    else:
        path = data / "meter_readings.parquet"
        pq.write_table(pq.read_table(path).drop_columns(["interval_kwh"]), path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_optional_column_may_be_left_out(tmp_path: Path, fmt: str) -> None:
    builder = basic_fleet()
    builder.rows["meter_readings"][1]["interval_kwh"] = 100.0
    data = builder.write(tmp_path / "data", fmt)
    _without_interval_column(data, fmt)
    report = ingest_dataset(data, tmp_path / "stage")
    assert report.totals("meter_readings") == (2, 2, 0)
    staged = pq.read_table(tmp_path / "stage" / "meter_readings.parquet")
    assert str(staged.schema.field("interval_kwh").type) == "double"
    assert staged.column("interval_kwh").to_pylist() == [None, None]
    assert staged.column("cumulative_kwh").to_pylist() == [0.0, 100.0]


def test_optional_column_present_is_typed_and_checked(tmp_path: Path) -> None:
    builder = basic_fleet()
    builder.rows["meter_readings"][1]["interval_kwh"] = 99.5
    data = builder.write(tmp_path / "data")
    report = ingest_dataset(data, tmp_path / "stage")
    staged = pq.read_table(tmp_path / "stage" / "meter_readings.parquet")
    assert staged.column("interval_kwh").to_pylist() == [None, 99.5]
    assert report.totals()[2] == 0
    path = data / "meter_readings.csv"
    path.write_text(path.read_text().replace(",99.5", ",lots"))
    report = ingest_dataset(data, tmp_path / "stage2")
    assert report.totals("meter_readings") == (2, 1, 1)
    (row,) = pq.read_table(tmp_path / "stage2" / "quarantine.parquet").to_pylist()
    assert row["source_file"] == "meter_readings.csv"
    assert (row["source_row"], row["column"], row["reason"]) == (3, "interval_kwh", "bad_type")
    assert "lots" in str(row["detail"])


def test_optional_column_of_the_wrong_parquet_type_is_an_error(tmp_path: Path) -> None:
    import pyarrow as pa

    data = basic_fleet().write(tmp_path / "data", "parquet")
    path = data / "meter_readings.parquet"
    table = pq.read_table(path)
    wrong = table.set_column(3, "interval_kwh", pa.array([True] * table.num_rows))
    pq.write_table(wrong, path)
    with pytest.raises(
        IngestError, match=r"meter_readings\.parquet, column interval_kwh: wrong type bool"
    ):
        ingest_dataset(data, tmp_path / "stage")
