"""Column layouts of the monitoring record types and a chunked writer for them.

The simulator writes one file per record type, named after it
(`vehicles.parquet`, `odometer_readings.csv`, ...), with exactly the columns of
the methodology's record table. High-volume record types arrive in chunks of
vehicles; the writer appends each chunk as its own Parquet row group (or CSV
block), so memory stays bounded by one chunk whatever the fleet size.

Timestamps are UTC. Parquet stores them as `timestamp[us, UTC]`; CSV renders
them as ISO 8601 text with a `Z` suffix. Calendar dates stay dates.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

OutputFormat = Literal["csv", "parquet"]

TIMESTAMP = pa.timestamp("us", tz="UTC")

RECORD_SCHEMAS: dict[str, pa.Schema] = {
    "vehicles": pa.schema(
        [
            ("vehicle_id", pa.string()),
            ("vin", pa.string()),
            ("plate", pa.string()),
            ("model", pa.string()),
            ("category", pa.string()),
            ("rated_power_kw", pa.float64()),
            ("top_speed_kmh", pa.float64()),
            ("battery_mode", pa.string()),
            ("owner_type", pa.string()),
            ("er_rights_signed_date", pa.date32()),
            ("commission_date", pa.date32()),
            ("decommission_date", pa.date32()),
            ("decommission_reason", pa.string()),
            ("province", pa.string()),
        ]
    ),
    "device_assignments": pa.schema(
        [
            ("device_id", pa.string()),
            ("vehicle_id", pa.string()),
            ("valid_from", TIMESTAMP),
            ("valid_to", TIMESTAMP),
            ("odometer_offset_km", pa.float64()),
        ]
    ),
    "odometer_readings": pa.schema(
        [("device_id", pa.string()), ("ts", TIMESTAMP), ("odometer_km", pa.float64())]
    ),
    "odometer_surveys": pa.schema(
        [("vehicle_id", pa.string()), ("date", pa.date32()), ("odometer_km", pa.float64())]
    ),
    "gps_pings": pa.schema(
        [
            ("device_id", pa.string()),
            ("ts", TIMESTAMP),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("speed_kmh", pa.float64()),
            ("soc_pct", pa.float64()),
        ]
    ),
    "batteries": pa.schema(
        [
            ("battery_id", pa.string()),
            ("capacity_kwh", pa.float64()),
            ("commission_date", pa.date32()),
            ("status", pa.string()),
        ]
    ),
    "stations": pa.schema(
        [
            ("station_id", pa.string()),
            ("kind", pa.string()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("supply", pa.string()),
            ("commission_date", pa.date32()),
            ("decommission_date", pa.date32()),
            ("serves_non_project", pa.bool_()),
            ("other_programme_id", pa.string()),
        ]
    ),
    "meters": pa.schema(
        [
            ("meter_id", pa.string()),
            ("station_id", pa.string()),
            ("role", pa.string()),
            ("accuracy_class_pct", pa.float64()),
        ]
    ),
    "meter_readings": pa.schema(
        [
            ("meter_id", pa.string()),
            ("ts", TIMESTAMP),
            ("cumulative_kwh", pa.float64()),
            ("interval_kwh", pa.float64()),
        ]
    ),
    "meter_calibrations": pa.schema(
        [
            ("meter_id", pa.string()),
            ("date", pa.date32()),
            ("error_pct", pa.float64()),
            ("passed", pa.bool_()),
        ]
    ),
    "swap_events": pa.schema(
        [
            ("event_id", pa.string()),
            ("station_id", pa.string()),
            ("vehicle_id", pa.string()),
            ("battery_out_id", pa.string()),
            ("battery_in_id", pa.string()),
            ("ts", TIMESTAMP),
            ("soc_out_pct", pa.float64()),
            ("soc_in_pct", pa.float64()),
        ]
    ),
    "charge_sessions": pa.schema(
        [
            ("session_id", pa.string()),
            ("station_id", pa.string()),
            ("vehicle_id", pa.string()),
            ("ts_start", TIMESTAMP),
            ("ts_end", TIMESTAMP),
            ("energy_kwh", pa.float64()),
        ]
    ),
    # An extract of another programme's registry: project vehicles listed there are excluded.
    "other_programme_vehicles": pa.schema(
        [("programme_id", pa.string()), ("vin", pa.string()), ("plate", pa.string())]
    ),
    "utility_invoices": pa.schema(
        [
            ("station_id", pa.string()),
            ("period_start", pa.date32()),
            ("period_end", pa.date32()),
            ("kwh_billed", pa.float64()),
        ]
    ),
}


class RecordWriters:
    """One open file per record type; chunks are appended in arrival order.

    Used as a context manager so every file is closed (and a Parquet footer
    written) even when generation fails half-way. Row counts are kept per
    record type because the fault manifest refers to rows by their position.
    """

    def __init__(self, out_dir: Path, output_format: OutputFormat) -> None:
        self.out_dir = out_dir
        self.output_format: OutputFormat = output_format
        self.rows_written: dict[str, int] = {}
        self._parquet: dict[str, pq.ParquetWriter] = {}
        self._csv: dict[str, pacsv.CSVWriter] = {}

    def __enter__(self) -> RecordWriters:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def path_for(self, record_type: str) -> Path:
        """File that holds every row of one record type."""
        return self.out_dir / f"{record_type}.{self.output_format}"

    def next_row(self, record_type: str) -> int:
        """Position the next appended row of this record type will have."""
        return self.rows_written.get(record_type, 0)

    def write(self, record_type: str, table: pa.Table) -> None:
        """Append one chunk; an empty chunk still creates the file with its header."""
        schema = RECORD_SCHEMAS[record_type]
        table = table.select(schema.names).cast(schema)
        if self.output_format == "parquet":
            writer = self._parquet.get(record_type)
            if writer is None:
                writer = pq.ParquetWriter(
                    self.path_for(record_type), schema, compression="zstd", store_schema=False
                )
                self._parquet[record_type] = writer
            if table.num_rows:
                writer.write_table(table, row_group_size=table.num_rows)
        else:
            text_table = _as_csv_text(table)
            csv_writer = self._csv.get(record_type)
            if csv_writer is None:
                csv_writer = pacsv.CSVWriter(self.path_for(record_type), text_table.schema)
                self._csv[record_type] = csv_writer
            csv_writer.write_table(text_table)
        self.rows_written[record_type] = self.rows_written.get(record_type, 0) + table.num_rows

    def close(self) -> None:
        """Close every open file; safe to call twice."""
        for parquet_writer in self._parquet.values():
            parquet_writer.close()
        for csv_writer in self._csv.values():
            csv_writer.close()
        self._parquet.clear()
        self._csv.clear()


def _as_csv_text(table: pa.Table) -> pa.Table:
    """Render UTC timestamps as ISO 8601 text so CSV readers need no guessing."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            columns.append(pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ"))
        else:
            columns.append(column)
    return pa.table(columns, names=table.schema.names)
