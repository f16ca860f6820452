"""(E9) Sampling: distance of vehicles without telematics from odometer surveys.

A vehicle without telematics has no measured distance, so without more it
credits nothing. The methodology lets a sample of such vehicles stand for
the rest: manual odometer readings taken at inspections
(``odometer_surveys``) give each surveyed vehicle an annual distance, and
the sample mean of its category, if it is precise enough, is credited to
every vehicle of the category that the sample represents.

Choices made here, each on the conservative side:

- the population of a category is its vehicles without telematics in the
  vintage that have activity evidence (a swap or charge) in their credited
  window; only they can be credited, and only surveyed vehicles among them
  form the sample (a surveyed vehicle with telematics has measured distance);
- a vehicle's annual distance is the difference between its last and first
  survey reading dated in the vintage, divided by the days between them and
  multiplied by the days of the vintage: the rate is measured only over the
  surveyed span, so at least two readings on different days are needed;
- per category: sample mean, standard deviation and CV; standard error
  ``SD / sqrt(n)`` without the finite-population correction (which could only
  narrow the interval); achieved precision ``z * SE / mean`` at the ``z`` of
  the parameter set; required size ``n`` from (E9);
- the mean is credited when the sample has at least the required size (and
  at least two vehicles) and the precision is reached; otherwise the lower
  bound ``mean - z * SE``, never below 0 (no bound without two vehicles);
- each population vehicle gets the category's figure prorated by its days in
  service in the vintage (after the ER-rights date, from commissioning to
  decommissioning) that its own records cover (from its first to its last
  swap or charge), before the segment's energy cap (E2), which then applies
  to surveyed and measured distance alike;
- without surveys nothing changes: those vehicles stay at 0.

Survey readings are checked like odometer readings: a key repeated, a
vehicle unknown or excluded, a reading below an earlier one of the same
vehicle are quarantined with their reason code.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from article6.mrv import methodology
from article6.mrv.engine import Engine
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables, reference_rule, split, union_all
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

RECORD_TYPE = "odometer_surveys"

SAMPLING_SCHEMA = pa.schema(
    [
        ("category", pa.string()),
        ("population", pa.int64()),
        ("sample_n", pa.int64()),
        ("mean_km", pa.float64()),
        ("standard_deviation_km", pa.float64()),
        ("cv", pa.float64()),
        ("standard_error_km", pa.float64()),
        ("precision", pa.float64()),
        ("required_n", pa.int64()),
        ("precision_met", pa.bool_()),
        ("credit_km_per_year", pa.float64()),
    ]
)


@dataclass(frozen=True)
class CategorySample:
    """The survey sample of one vehicle category and the annual distance it supports.

    Statistics that need two surveyed vehicles are None with fewer; the E9
    size is then the whole population, since the spread is unknown.
    """

    category: str
    population: int
    sample_n: int
    mean_km: float | None
    standard_deviation_km: float | None
    cv: float | None
    standard_error_km: float | None
    precision: float | None
    required_n: int
    precision_met: bool
    credit_km_per_year: float


@dataclass(frozen=True)
class SamplingOutcome:
    """Vehicle-year table with surveyed distance added, per-category samples, rejections."""

    vehicle_year: ir.Table
    categories: pa.Table
    rejected: ir.Table


def category_sample(
    category: str, population: int, distances: list[float], params: ParameterSet
) -> CategorySample:
    """(E9) Sample statistics of one category and the annual distance to credit."""
    n = len(distances)
    z, target = params.sampling_z, params.sampling_precision
    if n < 2:
        mean = distances[0] if distances else None
        return CategorySample(
            category, population, n, mean, None, None, None, None, population, False, 0.0
        )
    mean = statistics.fmean(distances)
    sd = statistics.stdev(distances)
    se = sd / math.sqrt(n)
    cv = sd / mean if mean > 0 else None
    precision = z * se / mean if mean > 0 else None
    required = methodology.sample_size(population, cv, target, z) if cv is not None else population
    met = precision is not None and n >= required and precision <= target
    lower = max(0.0, methodology.conservative_bound(mean, se, z, lower=True))
    credit = mean if met else lower
    return CategorySample(
        category, population, n, mean, sd, cv, se, precision, required, met, credit
    )


def survey_rules(
    surveys: ir.Table, tables: QualityTables, all_vehicle_ids: ir.Column
) -> tuple[ir.Table, list[ir.Table]]:
    """Surveys of accepted vehicles whose readings never decrease (duplicates are gone)."""
    kept, out = reference_rule(
        surveys,
        RECORD_TYPE,
        "vehicle_id",
        tables.vehicles.vehicle_id,
        all_vehicle_ids,
        ReasonCode.UNKNOWN_VEHICLE,
        ReasonCode.VEHICLE_EXCLUDED,
    )
    order = [kept.date, kept[SOURCE_FILE], kept[SOURCE_ROW]]
    earlier = ibis.window(group_by=kept.vehicle_id, order_by=order, rows=(None, -1))
    kept = kept.mutate(_max_before=kept.odometer_km.max().over(earlier))
    kept, bad = split(
        kept,
        kept.odometer_km < kept._max_before,
        RECORD_TYPE,
        ReasonCode.ODOMETER_DECREASE,
        "odometer_km",
        kept.odometer_km,
    )
    return kept.drop("_max_before"), [*out, bad]


def survey_annual_km(surveys: ir.Table, first_day: int, end_day: int) -> ir.Table:
    """vehicle_id, annual_km: the distance rate over the surveyed span in the vintage."""
    s = surveys.mutate(_day=surveys.date.epoch_days().cast("int64"))
    s = s.filter((s._day >= first_day) & (s._day < end_day))
    # Readings never decrease with the date, so the first reading is the lowest.
    span = s.group_by("vehicle_id").aggregate(
        _first=s._day.min(), _last=s._day.max(), _low=s.odometer_km.min(), _high=s.odometer_km.max()
    )
    span = span.filter(span._last > span._first)
    rate = (span._high - span._low) / (span._last - span._first).cast("float64")
    return span.select(vehicle_id=span.vehicle_id, annual_km=rate * float(end_day - first_day))


def apply_sampling(
    runner: Engine,
    vehicle_year: ir.Table,
    surveys: ir.Table,
    tables: QualityTables,
    all_vehicle_ids: ir.Column,
    first_day: int,
    end_day: int,
    params: ParameterSet,
    scratch: Path,
) -> SamplingOutcome:
    """Credit evidence-active vehicles without telematics from their category's sample."""
    kept, rejects = survey_rules(surveys, tables, all_vehicle_ids)
    annual = survey_annual_km(kept, first_day, end_day)
    in_population = ~vehicle_year.has_telematics & (vehicle_year.evidence_days > 0)
    population = vehicle_year.filter(in_population).select("vehicle_id", "category")
    sample = population.join(annual, "vehicle_id").select("vehicle_id", "category", "annual_km")
    sizes = population.group_by("category").aggregate(population=population.count())
    sample_rows = runner.to_arrow(sample.order_by("vehicle_id")).to_pylist()
    size_rows = runner.to_arrow(sizes.order_by("category")).to_pylist()
    distances: dict[str, list[float]] = {}
    for row in sample_rows:
        distances.setdefault(row["category"], []).append(float(row["annual_km"]))
    samples = [
        category_sample(
            row["category"], int(row["population"]), distances.get(row["category"], []), params
        )
        for row in size_rows
    ]
    categories = pa.Table.from_pylist([asdict(item) for item in samples], schema=SAMPLING_SCHEMA)
    path = scratch / "sampling_credits.parquet"
    pq.write_table(categories.select(["category", "credit_km_per_year"]), path)
    credits = runner.read(path).rename(_cat="category", _credit="credit_km_per_year")

    v = tables.vehicles
    service = v.select(
        _vid=v.vehicle_id,
        _from=ibis.greatest(
            ibis.literal(first_day),
            v.er_rights_signed_date.epoch_days().cast("int64"),
            v.commission_date.epoch_days().cast("int64"),
        ),
        _to=ibis.least(
            ibis.literal(end_day),
            v.decommission_date.epoch_days().cast("int64").fill_null(end_day),
        ),
    )
    out = vehicle_year.left_join(credits, vehicle_year.category == credits._cat).drop("_cat")
    out = out.left_join(service, out.vehicle_id == service._vid).drop("_vid")
    # Only the span the vehicle's own records cover: from its first to its
    # last swap or charge, so data for part of a year credits part of a year.
    first = ibis.greatest(out._from, out.evidence_first_day.fill_null(end_day))
    last = ibis.least(out._to, out.evidence_last_day.fill_null(first_day - 1) + 1)
    days = (last - first).clip(lower=0).cast("float64")
    eligible = ~out.has_telematics & (out.evidence_days > 0)
    prorated = out._credit.fill_null(0.0) * days / float(end_day - first_day)
    sampled_km = ibis.ifelse(eligible, prorated, 0.0).fill_null(0.0)
    out = out.mutate(sampled_km=sampled_km).drop("_credit", "_from", "_to")
    out = out.mutate(credited_km=out.credited_km + out.sampled_km)
    return SamplingOutcome(
        vehicle_year=runner.materialize(out, "vehicle_year_sampled"),
        categories=categories,
        rejected=union_all(rejects),
    )
