"""Ingestion: monitoring files in, typed staging tables and a quarantine out.

A dataset is a folder holding, per record type, one file (``vehicles.csv`` or
``vehicles.parquet``) or a folder of files (``vehicles/``). Files are read in
batches so memory stays bounded whatever the volume of pings. Problems with a
whole file (missing or unknown columns, wrong column types, empty file, text
that is not UTF-8, a time zone other than UTC in a typed column) stop the
ingestion with an error naming the file, and the row where it can be known.
Problems with single rows (a value of the wrong type, an empty required value,
an unknown code, a timestamp not in UTC) send the row to the quarantine with a
reason code and its source file and row, so nothing is silently lost and
``read = accepted + quarantined`` holds per file. A column the schema marks
optional may be absent from a file: its values are then empty.

Rows are numbered as a person sees them: in CSV the header is row 1 and the
first data row is row 2; in Parquet the first row is row 1.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import (
    SCHEMAS,
    Column,
    RecordSchema,
)

CSV_BLOCK_BYTES = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 256 * 1024
QUARANTINE_FILE = "quarantine.parquet"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("record_type", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

_FLOAT_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INT_PATTERN = r"^[+-]?\d+$"
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_TS_PATTERN = (
    r"^(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)
_UTC_ZONES = ("", "Z", "+00:00", "-00:00", "+0000", "-0000")
_UTC_NAMES = ("UTC", "Etc/UTC", "+00:00", "Z", "GMT")
_TRUE = ("true", "1", "t", "yes")
_FALSE = ("false", "0", "f", "no")

ProgressCallback = Callable[[str, int], None]


class IngestError(ValueError):
    """A file cannot be ingested at all; names the file and, where known, row and column."""

    def __init__(
        self, source_file: str, message: str, row: int | None = None, column: str | None = None
    ) -> None:
        self.source_file = source_file
        self.row = row
        self.column = column
        where = source_file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class SourceCount:
    """Reconciliation of one source file: read = accepted + quarantined."""

    record_type: str
    source_file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


@dataclass(frozen=True)
class IngestReport:
    """Outcome of ingesting a dataset into a staging folder."""

    staging_dir: Path
    input_hash: str
    sources: tuple[SourceCount, ...]
    quarantine_by_reason: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    def totals(self, record_type: str | None = None) -> tuple[int, int, int]:
        """(read, accepted, quarantined) for one record type or all."""
        rows = [s for s in self.sources if record_type is None or s.record_type == record_type]
        return (
            sum(s.rows_read for s in rows),
            sum(s.rows_accepted for s in rows),
            sum(s.rows_quarantined for s in rows),
        )


def find_sources(data_dir: Path, record_type: str) -> list[Path]:
    """Files holding one record type, in a canonical (sorted) order."""
    candidates = [data_dir / f"{record_type}.csv", data_dir / f"{record_type}.parquet"]
    folder = data_dir / record_type
    found = [path for path in candidates if path.is_file()]
    if folder.is_dir():
        found.extend(
            sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".csv", ".parquet"))
        )
    if len(found) > 1 and any(p.parent == data_dir for p in found):
        names = ", ".join(_relative(p, data_dir) for p in found)
        raise IngestError(str(data_dir), f"{record_type} given more than once: {names}")
    return found


def dataset_files(data_dir: Path) -> list[Path]:
    """Every file of every record type in a dataset, in canonical order."""
    if not data_dir.is_dir():
        raise IngestError(str(data_dir), "dataset folder not found")
    files: list[Path] = []
    for record_type in SCHEMAS:
        files.extend(find_sources(data_dir, record_type))
    return sorted(files, key=lambda p: _relative(p, data_dir))


def input_hash(data_dir: Path) -> str:
    """SHA-256 over the bytes of every dataset file, in sorted relative-path order."""
    digest = hashlib.sha256()
    for path in dataset_files(data_dir):
        name = _relative(path, data_dir).encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    return digest.hexdigest()


def staging_writer(target: Path, arrow_schema: pa.Schema) -> pq.ParquetWriter:
    """A Parquet writer laid out for fast reads of the staged tables.

    Strings (ids, files, categories) repeat and are dictionary-encoded;
    integers and instants are delta-encoded (row numbers and time series
    shrink to a few bits a value); floats are stored plain. Parquet's default,
    a dictionary for every column, overflows on coordinates and readings that
    seldom repeat, and decoding those columns took readers more than twice as
    long as plain or delta pages.
    """
    dictionary = [f.name for f in arrow_schema if pa.types.is_string(f.type)]
    delta = {
        f.name: "DELTA_BINARY_PACKED"
        for f in arrow_schema
        if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)
    }
    return pq.ParquetWriter(target, arrow_schema, use_dictionary=dictionary, column_encoding=delta)


def ingest_dataset(
    data_dir: Path, staging_dir: Path, progress: ProgressCallback | None = None
) -> IngestReport:
    """Read every record type of a dataset into typed Parquet staging tables."""
    data_dir = Path(data_dir)
    staging_dir = Path(staging_dir)
    digest = input_hash(data_dir)
    staging_dir.mkdir(parents=True, exist_ok=True)
    counts: list[SourceCount] = []
    reasons: dict[str, int] = {}
    with pq.ParquetWriter(staging_dir / QUARANTINE_FILE, QUARANTINE_SCHEMA) as quarantine:
        for record_type, schema in SCHEMAS.items():
            sources = find_sources(data_dir, record_type)
            if not sources and schema.required:
                raise IngestError(
                    str(data_dir),
                    f"missing record type {record_type} (expected {record_type}.csv, "
                    f"{record_type}.parquet or a folder {record_type}/)",
                )
            target = staging_dir / f"{record_type}.parquet"
            with staging_writer(target, schema.arrow_schema(with_source=True)) as writer:
                for source in sources:
                    label = _relative(source, data_dir)
                    read = accepted = rejected = 0
                    for good, bad in _read_source(source, label, schema):
                        read += good.num_rows + bad.num_rows
                        accepted += good.num_rows
                        rejected += bad.num_rows
                        if good.num_rows:
                            writer.write_table(good)
                        if bad.num_rows:
                            quarantine.write_table(bad)
                            for reason in bad.column("reason").to_pylist():
                                reasons[reason] = reasons.get(reason, 0) + 1
                        if progress is not None:
                            progress(record_type, good.num_rows + bad.num_rows)
                    counts.append(SourceCount(record_type, label, read, accepted, rejected))
    return IngestReport(
        staging_dir=staging_dir,
        input_hash=digest,
        sources=tuple(counts),
        quarantine_by_reason=tuple(sorted(reasons.items())),
    )


def _read_source(
    path: Path, label: str, schema: RecordSchema
) -> Iterator[tuple[pa.Table, pa.Table]]:
    if path.stat().st_size == 0:
        raise IngestError(label, "empty file (no header and no rows)")
    if path.suffix == ".csv":
        yield from _read_csv(path, label, schema)
    else:
        yield from _read_parquet(path, label, schema)


def _check_columns(label: str, names: list[str], schema: RecordSchema) -> None:
    expected = set(schema.column_names)
    missing = [n for n in schema.required_column_names if n not in names]
    unknown = [n for n in names if n not in expected]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if missing:
        raise IngestError(label, f"missing column(s): {', '.join(missing)}", column=missing[0])
    if unknown:
        raise IngestError(label, f"unknown column(s): {', '.join(unknown)}", column=unknown[0])
    if duplicated:
        raise IngestError(label, f"repeated column(s): {', '.join(duplicated)}", row=1)


def _check_utf8(path: Path, label: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                row = line + chunk[: exc.start].count(b"\n")
                raise IngestError(label, "text is not UTF-8", row=row) from exc
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise IngestError(label, "text is not UTF-8 (truncated character)", row=line) from exc


def _read_csv(path: Path, label: str, schema: RecordSchema) -> Iterator[tuple[pa.Table, pa.Table]]:
    _check_utf8(path, label)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    if not [name for name in header if name.strip()]:
        raise IngestError(label, "empty file (no header)", row=1)
    header = [name.strip() for name in header]
    _check_columns(label, header, schema)
    read_options = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, column_names=header, skip_rows=1)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=True,
        null_values=[""],
    )
    try:
        reader = pacsv.open_csv(path, read_options=read_options, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise IngestError(label, f"cannot read CSV: {exc}") from exc
    next_row = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise IngestError(label, f"malformed CSV near row {next_row}: {exc}") from exc
        table = pa.Table.from_batches([batch])
        yield _convert(table, label, next_row, schema)
        next_row += table.num_rows


def _read_parquet(
    path: Path, label: str, schema: RecordSchema
) -> Iterator[tuple[pa.Table, pa.Table]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(label, f"cannot read Parquet: {exc}") from exc
    arrow_schema = parquet.schema_arrow
    _check_columns(label, list(arrow_schema.names), schema)
    for column in schema.columns:
        if column.name in arrow_schema.names:
            _check_parquet_type(label, column, arrow_schema.field(column.name).type)
    next_row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        yield _convert(table, label, next_row, schema)
        next_row += table.num_rows


def _check_parquet_type(label: str, column: Column, actual: pa.DataType) -> None:
    if pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_null(actual):
        return
    ok = {
        "string": False,
        "int": pa.types.is_integer(actual),
        "float": pa.types.is_integer(actual) or pa.types.is_floating(actual),
        "bool": pa.types.is_boolean(actual),
        "date": pa.types.is_date(actual),
        "timestamp": pa.types.is_timestamp(actual),
    }[column.kind]
    if not ok:
        raise IngestError(label, f"wrong type {actual}, expected {column.kind}", column=column.name)
    if column.kind == "timestamp":
        zone = actual.tz  # type: ignore[attr-defined]
        if zone is not None and zone not in _UTC_NAMES:
            raise IngestError(
                label, f"timestamps in time zone {zone}, expected UTC", column=column.name
            )


def _convert(
    table: pa.Table, label: str, first_row: int, schema: RecordSchema
) -> tuple[pa.Table, pa.Table]:
    """Type every column; the first problem of a row (in column order) sends it to quarantine."""
    count = table.num_rows
    rows = pa.array(range(first_row, first_row + count), pa.int64())
    problem_reason = pa.nulls(count, pa.string())
    problem_column = pa.nulls(count, pa.string())
    typed: dict[str, pa.Array] = {}
    for column in schema.columns:
        if column.name in table.column_names:
            values, reason = _convert_column(table.column(column.name).combine_chunks(), column)
        else:  # an optional column the file leaves out
            values, reason = pa.nulls(count, column.arrow_type), pa.nulls(count, pa.string())
        typed[column.name] = values
        take = pc.and_(pc.is_null(problem_reason), pc.is_valid(reason))
        problem_reason = pc.if_else(take, reason, problem_reason)
        problem_column = pc.if_else(take, pa.scalar(column.name), problem_column)
    ok = pc.is_null(problem_reason)
    arrays = [typed[c.name] for c in schema.columns]
    arrays += [pa.array([label] * count, pa.string()), rows]
    good = pa.Table.from_arrays(arrays, schema=schema.arrow_schema(with_source=True)).filter(ok)
    bad_mask = pc.invert(ok)
    bad_rows = rows.filter(bad_mask)
    bad_columns = problem_column.filter(bad_mask)
    detail = [
        _detail(table, column, index - first_row)
        for column, index in zip(bad_columns.to_pylist(), bad_rows.to_pylist(), strict=True)
    ]
    bad = pa.Table.from_arrays(
        [
            pa.array([schema.name] * len(detail), pa.string()),
            pa.array([label] * len(detail), pa.string()),
            bad_rows,
            bad_columns,
            problem_reason.filter(bad_mask),
            pa.array(detail, pa.string()),
        ],
        schema=QUARANTINE_SCHEMA,
    )
    return good, bad


def _detail(table: pa.Table, column: str, index: int) -> str:
    value = table.column(column)[index].as_py()
    return json.dumps({"value": None if value is None else str(value)})


def _reason_where(mask: pa.Array, reason: ReasonCode) -> pa.Array:
    return pc.if_else(
        pc.fill_null(mask, False), pa.scalar(reason.value), pa.scalar(None, pa.string())
    )


def _merge(first: pa.Array, second: pa.Array) -> pa.Array:
    return pc.coalesce(first, second)


def _convert_column(values: pa.Array, column: Column) -> tuple[pa.Array, pa.Array]:
    """Return the typed array and a per-row reason (null where the value is fine)."""
    target = column.arrow_type
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = values.cast(pa.string())
        if column.kind != "string":
            text = pc.utf8_trim_whitespace(text)
            text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        typed, reason = _parse_text(text, column)
    else:
        typed = _cast_typed(values, column)
        reason = pa.nulls(len(values), pa.string())
    if column.nullable:
        missing = pa.array([False] * len(typed))
    else:
        missing = pc.and_(pc.is_null(typed), pc.is_null(reason))
    reason = _merge(reason, _reason_where(missing, ReasonCode.MISSING_VALUE))
    if column.allowed:
        bad_code = pc.invert(pc.is_in(typed, value_set=pa.array(column.allowed)))
        bad_code = pc.and_(bad_code, pc.is_valid(typed))
        reason = _merge(reason, _reason_where(bad_code, ReasonCode.BAD_VALUE))
    return typed.cast(target), reason


def _cast_typed(values: pa.Array, column: Column) -> pa.Array:
    if column.kind == "timestamp":
        unit = pa.timestamp("us", tz=values.type.tz) if values.type.tz else pa.timestamp("us")
        return values.cast(unit).cast(pa.timestamp("us"))
    return values.cast(column.arrow_type)


def _parse_text(text: pa.Array, column: Column) -> tuple[pa.Array, pa.Array]:
    kind = column.kind
    if kind == "string":
        return text, pa.nulls(len(text), pa.string())
    if kind in ("float", "int"):
        pattern = _FLOAT_PATTERN if kind == "float" else _INT_PATTERN
        valid = pc.match_substring_regex(text, pattern)
        clean = pc.if_else(valid, text, pa.scalar(None, pa.string()))
        return clean.cast(column.arrow_type), _reason_where(pc.invert(valid), ReasonCode.BAD_TYPE)
    if kind == "bool":
        lower = pc.utf8_lower(text)
        is_true = pc.is_in(lower, value_set=pa.array(_TRUE))
        is_false = pc.is_in(lower, value_set=pa.array(_FALSE))
        known = pc.or_(is_true, is_false)
        typed = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
        bad = pc.and_(pc.invert(known), pc.is_valid(text))
        return typed, _reason_where(bad, ReasonCode.BAD_TYPE)
    if kind == "date":
        shaped = pc.match_substring_regex(text, _DATE_PATTERN)
        clean = pc.if_else(shaped, text, pa.scalar(None, pa.string()))
        parsed = pc.strptime(clean, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2025-02-30 over to March; a round trip catches it.
        round_trip = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), clean)
        good = pc.fill_null(round_trip, False)
        typed = pc.if_else(good, parsed, pa.scalar(None, parsed.type)).cast(pa.date32())
        bad = pc.and_(pc.invert(good), pc.is_valid(text))
        return typed, _reason_where(bad, ReasonCode.BAD_TYPE)
    return _parse_timestamps(text)


def _parse_timestamps(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    shaped = pc.match_substring_regex(text, _TS_PATTERN)
    parts = pc.extract_regex(pc.if_else(shaped, text, pa.scalar(None, pa.string())), _TS_PATTERN)
    zone = pc.struct_field(parts, "zone")
    utc = pc.is_in(zone, value_set=pa.array(_UTC_ZONES))
    clock = pc.struct_field(parts, "clock")
    clock = pc.if_else(
        pc.equal(pc.utf8_length(clock), 5), pc.binary_join_element_wise(clock, "00", ":"), clock
    )
    normal = pc.binary_join_element_wise(pc.struct_field(parts, "day"), clock, "T")
    normal = pc.if_else(pc.fill_null(utc, False), normal, pa.scalar(None, pa.string()))
    try:
        typed = normal.cast(pa.timestamp("us"))
        calendar_bad = pa.array([False] * len(text))
    except pa.ArrowInvalid:
        parsed: list[datetime | None] = []
        flags: list[bool] = []
        for value in normal.to_pylist():
            if value is None:
                parsed.append(None)
                flags.append(False)
                continue
            try:
                parsed.append(datetime.fromisoformat(value))
                flags.append(False)
            except ValueError:
                parsed.append(None)
                flags.append(True)
        typed = pa.array(parsed, pa.timestamp("us"))
        calendar_bad = pa.array(flags)
    not_shaped = pc.and_(pc.invert(pc.fill_null(shaped, True)), pc.is_valid(text))
    reason = _reason_where(not_shaped, ReasonCode.BAD_TYPE)
    non_utc = pc.and_(pc.fill_null(shaped, False), pc.invert(pc.fill_null(utc, False)))
    reason = _merge(reason, _reason_where(non_utc, ReasonCode.NON_UTC_TIMESTAMP))
    reason = _merge(reason, _reason_where(calendar_bad, ReasonCode.BAD_TYPE))
    return typed, reason


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
