"""Quality rules on monitoring records, written once as Ibis expressions.

Each rule splits a table into the rows it keeps and the rows it rejects; a
rejected row keeps its source file and row and gets one reason code
(``ReasonCode``), so it can be found, explained and corrected. Rules run in
the order of precedence of the codes, each on the survivors of the previous
one, so a row is reported under the first rule it breaks. The same
expressions run on DuckDB and on Spark.

The identity rules live here (unique keys, VIN and plate, device to vehicle
one-to-one at any time, other programmes, eligibility of vehicles, stations
and meters). Telematics plausibility rules (odometer, GPS) are in
``distance``, meter rules in ``energy``; they use the helpers of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from article6.mrv.params import ParameterSet
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW

__all__ = [
    "FAR_FUTURE",
    "QualityTables",
    "ReasonCode",
    "apply_identity_rules",
    "drop_duplicate_keys",
    "local_day",
    "mark",
    "partition",
    "rejects",
    "required",
    "sort_out",
    "split",
]

# Asia/Phnom_Penh has been UTC+7 without daylight saving since 1945, so a fixed
# offset gives the local calendar day on every engine without zone databases.
LOCAL_OFFSET_S = 7 * 3600
SECONDS_PER_DAY = 86400
FAR_FUTURE = ibis.timestamp("9999-01-01 00:00:00")
# Record types with a row per event or reading: their stage results are worth
# materialising once rather than recomputing for every table that uses them.
HIGH_VOLUME = frozenset(
    {"odometer_readings", "gps_pings", "swap_events", "charge_sessions", "meter_readings"}
)

# Materialises an intermediate table on the engine (name is a hint). Keeping
# stage results keeps each query plan small, which Spark's optimizer needs.
Cache = Callable[[ir.Table, str], ir.Table]


def no_cache(table: ir.Table, name: str) -> ir.Table:
    """Leave the expression lazy (pure-expression use, tests of single rules)."""
    del name
    return table


def local_day(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Local (Asia/Phnom_Penh) calendar day of a UTC instant, as days since 1970-01-01."""
    seconds = ts.epoch_seconds().cast("int64") + LOCAL_OFFSET_S
    return (seconds // SECONDS_PER_DAY).cast("int64")


def rejects(
    table: ir.Table,
    record_type: str,
    reason: ReasonCode,
    column: str,
    detail: ir.Value | None = None,
) -> ir.Table:
    """Quarantine rows in the common layout: record, source file and row, column, reason."""
    return table.select(
        record_type=ibis.literal(record_type),
        source_file=table[SOURCE_FILE],
        source_row=table[SOURCE_ROW],
        column=ibis.literal(column),
        reason=ibis.literal(reason.value),
        detail=ibis.literal("") if detail is None else detail.cast("string").fill_null(""),
    )


def split(
    table: ir.Table,
    bad: ir.BooleanValue,
    record_type: str,
    reason: ReasonCode,
    column: str,
    detail: ir.Value | None = None,
) -> tuple[ir.Table, ir.Table]:
    """Keep the rows where `bad` is false (or unknown); reject the others with `reason`."""
    flag = bad.fill_null(False)
    marked = table.mutate(_bad=flag)
    kept = marked.filter(~marked._bad).drop("_bad")
    rejected_rows = marked.filter(marked._bad)
    detail_expr = None if detail is None else rejected_rows[detail.get_name()]
    return kept, rejects(rejected_rows, record_type, reason, column, detail_expr)


Rule = tuple[ir.BooleanValue, ReasonCode, str, "ir.Value | None"]
"""A row-local rule: the condition that breaks it, its code, the column, the detail."""

MARK_COLUMNS = ("_reason", "_column", "_detail")


def mark(table: ir.Table, rules: Sequence[Rule]) -> ir.Table:
    """Tag each row with the first of `rules` it breaks, in one pass.

    For row-local rules (nothing but the row itself decides) this is the same
    as applying them one after the other on the survivors, in precedence
    order, but reads the table once; ``partition`` then splits the result.
    """
    broken = [
        (condition.fill_null(False), code, column, detail)
        for condition, code, column, detail in rules
    ]
    text = ibis.null("string")
    return table.mutate(
        _reason=ibis.cases(*[(cond, code.value) for cond, code, _, _ in broken], else_=text),
        _column=ibis.cases(*[(cond, column) for cond, _, column, _ in broken], else_=text),
        _detail=ibis.cases(
            *[
                (cond, ibis.literal("") if detail is None else detail.cast("string").fill_null(""))
                for cond, _, _, detail in broken
            ],
            else_=text,
        ),
    )


def partition(marked: ir.Table, record_type: str) -> tuple[ir.Table, ir.Table]:
    """The rows of a ``mark``-ed table that broke no rule, and the quarantine of the others."""
    kept = marked.filter(marked._reason.isnull()).drop(*MARK_COLUMNS)
    bad = marked.filter(marked._reason.notnull())
    rejected = bad.select(
        record_type=ibis.literal(record_type),
        source_file=bad[SOURCE_FILE],
        source_row=bad[SOURCE_ROW],
        column=bad._column,
        reason=bad._reason,
        detail=bad._detail,
    )
    return kept, rejected


def sort_out(table: ir.Table, rules: Sequence[Rule], record_type: str) -> tuple[ir.Table, ir.Table]:
    """``partition(mark(table, rules))`` for a table not materialised in between.

    The kept rows are filtered on the conditions alone: DuckDB plans a join
    for every occurrence of a membership test, even in the reason, column and
    detail expressions that the kept rows drop, so each test would run thrice.
    One CASE of the conditions, not their OR: DuckDB splits an OR of negated
    tests into filters whose row estimates shrink one after the other, and a
    join after them would then be planned the wrong way round.
    """
    first = ibis.cases(*[(condition.fill_null(False), 1) for condition, *_ in rules], else_=0)
    _, rejected = partition(mark(table, rules), record_type)
    return table.filter(first == 0), rejected


def drop_duplicate_keys(
    table: ir.Table, record_type: str, cache: Cache = no_cache
) -> tuple[ir.Table, ir.Table]:
    """Later copies of a key (by source file and row) are rejected; the first is kept.

    Keys are almost always unique, so only the rows of repeated keys (found by
    one hash aggregation) are ranked; the rest pass through an anti-join with
    that small set instead of a sort of the whole table.
    """
    key = list(SCHEMAS[record_type].key)
    copies = table.group_by(key).aggregate(_copies=table.count())
    repeated = copies.filter(copies._copies > 1).drop("_copies")
    candidates = table.semi_join(repeated, key)
    window = ibis.window(
        group_by=[candidates[k] for k in key],
        order_by=[candidates[SOURCE_FILE], candidates[SOURCE_ROW]],
    )
    ranked = candidates.mutate(_rank=ibis.row_number().over(window))
    later = ranked.filter(ranked._rank > 0)
    later = cache(
        later.select(_f=later[SOURCE_FILE], _r=later[SOURCE_ROW]), f"{record_type}_duplicates"
    )
    kept = table.anti_join(later, [table[SOURCE_FILE] == later._f, table[SOURCE_ROW] == later._r])
    rejected = later.select(
        record_type=ibis.literal(record_type),
        source_file=later._f,
        source_row=later._r,
        column=ibis.literal(key[0]),
        reason=ibis.literal(ReasonCode.DUPLICATE_KEY.value),
        detail=ibis.literal(""),
    )
    return kept, rejected


def duplicate_key_counts(raw: dict[str, ir.Table]) -> ir.Table:
    """record_type, rows: how many rows repeat an earlier row's key, per record type."""
    rejected = union_all([drop_duplicate_keys(table, name)[1] for name, table in raw.items()])
    return rejected.group_by("record_type").aggregate(rows=rejected.count())


def union_all(tables: Sequence[ir.Table]) -> ir.Table:
    result = tables[0]
    for table in tables[1:]:
        result = result.union(table, distinct=False)
    return result


@dataclass(frozen=True)
class QualityTables:
    """Accepted entity tables after the identity rules, with all rejections.

    ``swaps`` and ``charges`` are None when the staged records were left out
    of the rules, for a streaming kernel to check (``activity_kernel``).
    """

    vehicles: ir.Table
    assignments: ir.Table
    stations: ir.Table
    meters: ir.Table
    swaps: ir.Table | None
    charges: ir.Table | None
    batteries: ir.Table
    calibrations: ir.Table
    invoices: ir.Table
    rejected: ir.Table


def required(table: ir.Table | None, record_type: str) -> ir.Table:
    """A table the identity rules may have left to a kernel, when an expression needs it."""
    if table is None:
        raise ValueError(f"{record_type} were left to a streaming kernel, not checked here")
    return table


def reference_rule(
    table: ir.Table,
    record_type: str,
    column: str,
    accepted_ids: ir.Column,
    all_ids: ir.Column,
    unknown: ReasonCode,
    excluded: ReasonCode,
    optional: bool = False,
) -> tuple[ir.Table, list[ir.Table]]:
    """A reference must name a known record, and one that was not itself rejected."""
    value = table[column]
    missing_ok = value.isnull() if optional else ibis.literal(False)
    kept, bad_unknown = split(
        table, ~missing_ok & ~value.isin(all_ids), record_type, unknown, column, value
    )
    value = kept[column]
    missing_ok = value.isnull() if optional else ibis.literal(False)
    kept, bad_excluded = split(
        kept, ~missing_ok & ~value.isin(accepted_ids), record_type, excluded, column, value
    )
    return kept, [bad_unknown, bad_excluded]


def reference_rules(
    table: ir.Table,
    column: str,
    accepted_ids: ir.Column,
    all_ids: ir.Column,
    unknown: ReasonCode,
    excluded: ReasonCode,
) -> list[Rule]:
    """``reference_rule`` as row-local rules for ``mark``: known, then not rejected."""
    value = table[column]
    return [
        (~value.isin(all_ids), unknown, column, value),
        (~value.isin(accepted_ids), excluded, column, value),
    ]


def _overlaps(table: ir.Table, column: str) -> ir.Table:
    """Assignment rows whose validity overlaps another row for the same device or vehicle."""
    left = table.select(
        _k=table[column],
        _f=table[SOURCE_FILE],
        _r=table[SOURCE_ROW],
        _from=table.valid_from,
        _to=table.valid_to.fill_null(FAR_FUTURE),
    )
    right = left.rename(_k2="_k", _f2="_f", _r2="_r", _from2="_from", _to2="_to")
    pairs = left.join(
        right,
        [
            left._k == right._k2,
            (left._f != right._f2) | (left._r != right._r2),
            left._from < right._to2,
            right._from2 < left._to,
        ],
    )
    return pairs.select(_f=pairs._f, _r=pairs._r).distinct()


def apply_identity_rules(
    raw: dict[str, ir.Table], params: ParameterSet, cache: Cache = no_cache
) -> tuple[QualityTables, dict[str, ir.Table]]:
    """Run the identity and eligibility rules over the staged entity tables.

    Returns the accepted entities and the deduplicated high-volume tables
    (readings, pings) still to be checked by the distance and energy rules.
    A record type absent from `raw` is left out (a streaming kernel checks it).
    """
    out: list[ir.Table] = []
    dedup: dict[str, ir.Table] = {}

    def drop_duplicates(high_volume: bool, store: Cache) -> None:
        for name, table in raw.items():
            if (name in HIGH_VOLUME) == high_volume:
                dedup[name], bad = drop_duplicate_keys(table, name, store)
                out.append(bad)

    drop_duplicates(high_volume=False, store=no_cache)
    for name in ("vehicles", "stations", "meters", "other_programme_vehicles"):
        dedup[name] = cache(dedup[name], f"{name}_unique")

    vehicles = dedup["vehicles"]
    vin_count = vehicles.vin.count().over(ibis.window(group_by=vehicles.vin))
    plate_count = vehicles.plate.count().over(ibis.window(group_by=vehicles.plate))
    vehicles = vehicles.mutate(_vins=vin_count, _plates=plate_count)
    vehicles, bad = split(vehicles, vehicles._vins > 1, "vehicles", ReasonCode.DUPLICATE_VIN, "vin")
    out.append(bad)
    vehicles, bad = split(
        vehicles, vehicles._plates > 1, "vehicles", ReasonCode.DUPLICATE_PLATE, "plate"
    )
    out.append(bad)
    vehicles = cache(vehicles.drop("_vins", "_plates"), "vehicles_identity")
    others = dedup["other_programme_vehicles"]
    other_vins = others.filter(others.vin.notnull()).vin
    other_plates = others.filter(others.plate.notnull()).plate
    listed = vehicles.vin.isin(other_vins) | vehicles.plate.isin(other_plates)
    vehicles, bad = split(vehicles, listed, "vehicles", ReasonCode.OTHER_PROGRAMME, "vin")
    out.append(bad)
    known = list(params.category_names())
    vehicles, bad = split(
        vehicles,
        ~vehicles.category.isin(known),
        "vehicles",
        ReasonCode.UNKNOWN_CATEGORY,
        "category",
        vehicles.category,
    )
    out.append(bad)
    vehicles, bad = split(
        vehicles,
        vehicles.er_rights_signed_date.isnull(),
        "vehicles",
        ReasonCode.NO_ER_RIGHTS,
        "er_rights_signed_date",
    )
    out.append(bad)
    vehicles = cache(vehicles, "vehicles_accepted")

    all_vehicle_ids = dedup["vehicles"].vehicle_id
    assignments, bads = reference_rule(
        dedup["device_assignments"],
        "device_assignments",
        "vehicle_id",
        vehicles.vehicle_id,
        all_vehicle_ids,
        ReasonCode.UNKNOWN_VEHICLE,
        ReasonCode.VEHICLE_EXCLUDED,
    )
    out.extend(bads)
    overlapping = _overlaps(assignments, "device_id").union(_overlaps(assignments, "vehicle_id"))
    flagged = assignments.left_join(
        overlapping.distinct(),
        [assignments[SOURCE_FILE] == overlapping._f, assignments[SOURCE_ROW] == overlapping._r],
    )
    flagged = flagged.mutate(_overlap=flagged._f.notnull()).drop("_f", "_r")
    assignments, bad = split(
        flagged, flagged._overlap, "device_assignments", ReasonCode.DEVICE_OVERLAP, "valid_from"
    )
    assignments = cache(assignments.drop("_overlap"), "assignments_accepted")
    out.append(bad)
    # The duplicates of events and readings only now: an engine that builds
    # tables in the background then has the vehicles and assignments, which
    # the streaming kernels wait for, before these larger tables.
    drop_duplicates(high_volume=True, store=cache)

    stations = dedup["stations"]
    stations, bad = split(
        stations,
        stations.other_programme_id.notnull(),
        "stations",
        ReasonCode.OTHER_PROGRAMME,
        "other_programme_id",
        stations.other_programme_id,
    )
    out.append(bad)
    stations = cache(stations, "stations_accepted")
    all_station_ids = dedup["stations"].station_id
    meters, bads = reference_rule(
        dedup["meters"],
        "meters",
        "station_id",
        stations.station_id,
        all_station_ids,
        ReasonCode.UNKNOWN_STATION,
        ReasonCode.STATION_EXCLUDED,
    )
    out.extend(bads)
    meters = cache(meters, "meters_accepted")
    swaps = charges = None
    if "swap_events" in dedup:
        swap_rules = reference_rules(
            dedup["swap_events"],
            "station_id",
            stations.station_id,
            all_station_ids,
            ReasonCode.UNKNOWN_STATION,
            ReasonCode.STATION_EXCLUDED,
        ) + reference_rules(
            dedup["swap_events"],
            "vehicle_id",
            vehicles.vehicle_id,
            all_vehicle_ids,
            ReasonCode.UNKNOWN_VEHICLE,
            ReasonCode.VEHICLE_EXCLUDED,
        )
        swaps, bad = sort_out(dedup["swap_events"], swap_rules, "swap_events")
        out.append(bad)
    if "charge_sessions" in dedup:
        # Charge sessions of vehicles outside the project are legitimate records:
        # their metered energy is taken out of the station's total.
        charge_rules = reference_rules(
            dedup["charge_sessions"],
            "station_id",
            stations.station_id,
            all_station_ids,
            ReasonCode.UNKNOWN_STATION,
            ReasonCode.STATION_EXCLUDED,
        )
        charges, bad = sort_out(dedup["charge_sessions"], charge_rules, "charge_sessions")
        out.append(bad)
    all_meter_ids = dedup["meters"].meter_id
    calibrations, bads = reference_rule(
        dedup["meter_calibrations"],
        "meter_calibrations",
        "meter_id",
        meters.meter_id,
        all_meter_ids,
        ReasonCode.UNKNOWN_METER,
        ReasonCode.METER_EXCLUDED,
    )
    out.extend(bads)
    invoices, bads = reference_rule(
        dedup["utility_invoices"],
        "utility_invoices",
        "station_id",
        stations.station_id,
        all_station_ids,
        ReasonCode.UNKNOWN_STATION,
        ReasonCode.STATION_EXCLUDED,
    )
    out.extend(bads)
    tables = QualityTables(
        vehicles=vehicles,
        assignments=assignments,
        stations=stations,
        meters=meters,
        swaps=swaps,
        charges=charges,
        batteries=cache(dedup["batteries"], "batteries"),
        calibrations=cache(calibrations, "calibrations"),
        invoices=cache(invoices, "invoices"),
        # Left lazy: read only at the end of a run, it can be compiled whenever
        # the caller has the time (while the streaming kernels run).
        rejected=union_all(out),
    )
    return tables, dedup
