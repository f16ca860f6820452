"""Record schemas of the monitoring data the MRV pipeline ingests.

One schema per record type of the methodology's data table: exact column
names, value kinds, which values may be empty, the key that must be unique and
the allowed values of coded columns. Timestamps are UTC instants (ISO 8601 in
CSV); after ingestion they are stored as UTC without a zone marker so every
engine reads the same instant. Columns named ``*_date`` or ``date`` are
calendar dates in local time.

A column marked ``optional`` may be left out of a file altogether (older
monitoring systems do not report it); its values are then empty, so such a
column is always nullable. A column that is present must still have the right
type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["string", "int", "float", "bool", "date", "timestamp"]

# Provenance columns added to every ingested row.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Column:
    """One column: name (unit last), kind, whether it may be empty or absent, allowed codes."""

    name: str
    kind: Kind
    nullable: bool = False
    allowed: tuple[str, ...] = ()
    optional: bool = False

    def __post_init__(self) -> None:
        if self.optional and not self.nullable:
            raise ValueError(f"column {self.name}: an optional column must be nullable")

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]


@dataclass(frozen=True)
class RecordSchema:
    """A record type: its columns, unique key and whether a dataset must contain it."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_column_names(self) -> tuple[str, ...]:
        """Columns every file of this record type must have (all but the optional ones)."""
        return tuple(column.name for column in self.columns if not column.optional)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

    def arrow_schema(self, with_source: bool = False) -> pa.Schema:
        """The typed Arrow schema of accepted rows (optionally with provenance)."""
        fields = [pa.field(c.name, c.arrow_type, nullable=True) for c in self.columns]
        if with_source:
            fields.append(pa.field(SOURCE_FILE, pa.string()))
            fields.append(pa.field(SOURCE_ROW, pa.int64()))
        return pa.schema(fields)


def _c(name: str, kind: Kind, nullable: bool = False, allowed: tuple[str, ...] = ()) -> Column:
    return Column(name=name, kind=kind, nullable=nullable, allowed=allowed)


def _optional(name: str, kind: Kind) -> Column:
    return Column(name=name, kind=kind, nullable=True, optional=True)


BATTERY_MODES = ("swap", "fixed")
OWNER_TYPES = ("public_donation", "private_sale", "fleet_lease")
STATION_KINDS = ("swap_cabinet", "ac_charger", "dc_charger")
STATION_SUPPLIES = ("grid", "grid_pv", "offgrid_pv", "diesel")
METER_ROLES = ("grid_import", "pv_generation", "sub_meter")

SCHEMAS: dict[str, RecordSchema] = {
    schema.name: schema
    for schema in (
        RecordSchema(
            "vehicles",
            (
                _c("vehicle_id", "string"),
                _c("vin", "string"),
                _c("plate", "string"),
                _c("model", "string"),
                _c("category", "string"),
                _c("rated_power_kw", "float"),
                _c("top_speed_kmh", "float"),
                _c("battery_mode", "string", allowed=BATTERY_MODES),
                _c("owner_type", "string", allowed=OWNER_TYPES),
                _c("er_rights_signed_date", "date", nullable=True),
                _c("commission_date", "date"),
                _c("decommission_date", "date", nullable=True),
                _c("decommission_reason", "string", nullable=True),
                _c("province", "string", nullable=True),
            ),
            ("vehicle_id",),
            True,
        ),
        RecordSchema(
            "device_assignments",
            (
                _c("device_id", "string"),
                _c("vehicle_id", "string"),
                _c("valid_from", "timestamp"),
                _c("valid_to", "timestamp", nullable=True),
                _c("odometer_offset_km", "float"),
            ),
            ("device_id", "valid_from"),
            True,
        ),
        RecordSchema(
            "odometer_readings",
            (_c("device_id", "string"), _c("ts", "timestamp"), _c("odometer_km", "float")),
            ("device_id", "ts"),
            True,
        ),
        # Manual odometer readings at inspections, for vehicles without
        # telematics: the survey sample of (E9).
        RecordSchema(
            "odometer_surveys",
            (_c("vehicle_id", "string"), _c("date", "date"), _c("odometer_km", "float")),
            ("vehicle_id", "date"),
            False,
        ),
        RecordSchema(
            "gps_pings",
            (
                _c("device_id", "string"),
                _c("ts", "timestamp"),
                _c("lat", "float"),
                _c("lon", "float"),
                _c("speed_kmh", "float", nullable=True),
                _c("soc_pct", "float", nullable=True),
            ),
            ("device_id", "ts"),
            False,
        ),
        RecordSchema(
            "batteries",
            (
                _c("battery_id", "string"),
                _c("capacity_kwh", "float"),
                _c("commission_date", "date"),
                _c("status", "string"),
            ),
            ("battery_id",),
            False,
        ),
        RecordSchema(
            "stations",
            (
                _c("station_id", "string"),
                _c("kind", "string", allowed=STATION_KINDS),
                _c("lat", "float"),
                _c("lon", "float"),
                _c("supply", "string", allowed=STATION_SUPPLIES),
                _c("commission_date", "date"),
                _c("decommission_date", "date", nullable=True),
                _c("serves_non_project", "bool"),
                _c("other_programme_id", "string", nullable=True),
            ),
            ("station_id",),
            True,
        ),
        RecordSchema(
            "meters",
            (
                _c("meter_id", "string"),
                _c("station_id", "string"),
                _c("role", "string", allowed=METER_ROLES),
                _c("accuracy_class_pct", "float"),
            ),
            ("meter_id",),
            True,
        ),
        # interval_kwh: energy the meter recorded for the interval ending at this
        # reading, reported by smart meters beside their cumulative register.
        RecordSchema(
            "meter_readings",
            (
                _c("meter_id", "string"),
                _c("ts", "timestamp"),
                _c("cumulative_kwh", "float"),
                _optional("interval_kwh", "float"),
            ),
            ("meter_id", "ts"),
            True,
        ),
        RecordSchema(
            "meter_calibrations",
            (
                _c("meter_id", "string"),
                _c("date", "date"),
                _c("error_pct", "float"),
                _c("passed", "bool"),
            ),
            ("meter_id", "date"),
            False,
        ),
        RecordSchema(
            "swap_events",
            (
                _c("event_id", "string"),
                _c("station_id", "string"),
                _c("vehicle_id", "string"),
                _c("battery_out_id", "string"),
                _c("battery_in_id", "string"),
                _c("ts", "timestamp"),
                _c("soc_out_pct", "float"),
                _c("soc_in_pct", "float"),
            ),
            ("event_id",),
            False,
        ),
        RecordSchema(
            "charge_sessions",
            (
                _c("session_id", "string"),
                _c("station_id", "string"),
                _c("vehicle_id", "string", nullable=True),
                _c("ts_start", "timestamp"),
                _c("ts_end", "timestamp"),
                _c("energy_kwh", "float"),
            ),
            ("session_id",),
            False,
        ),
        RecordSchema(
            "utility_invoices",
            (
                _c("station_id", "string"),
                _c("period_start", "date"),
                _c("period_end", "date"),
                _c("kwh_billed", "float"),
            ),
            ("station_id", "period_start"),
            False,
        ),
        # Vehicles registered under another programme (a registry extract):
        # any project vehicle with the same VIN or plate is excluded.
        RecordSchema(
            "other_programme_vehicles",
            (
                _c("programme_id", "string"),
                _c("vin", "string", nullable=True),
                _c("plate", "string", nullable=True),
            ),
            ("programme_id", "vin", "plate"),
            False,
        ),
    )
}

RECORD_TYPES: tuple[str, ...] = tuple(SCHEMAS)


def empty_table(record_type: str) -> pa.Table:
    """A zero-row table of a record type, used when an optional file is absent."""
    return SCHEMAS[record_type].arrow_schema(with_source=True).empty_table()
