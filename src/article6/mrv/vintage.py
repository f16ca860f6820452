"""The vintage's credited days and each vehicle's totals (E1 inputs).

Of all the daily distances, a vintage credits the days inside each vehicle's
service window and after its ER-rights date; the others are reported with
their reason. Per vehicle, the credited distance and days, the imputed part,
the days with activity evidence inside the window and whether it reported
telematics in the vintage are what the vehicle-year rules then judge.

Two ways to the same rows: Ibis expressions over ``distance.daily_distance``
(every engine), and on DuckDB the daily kernel (``daily_kernel``) over the
streaming kernels' results.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from article6.mrv.daily_kernel import VEHICLE_COLUMNS, DailyResult
from article6.mrv.distance import DistanceTables
from article6.mrv.engine import Engine
from article6.mrv.quality import union_all
from article6.mrv.reasons import ReasonCode


@dataclass(frozen=True)
class VintageDays:
    """``totals``: vehicle_id, distance_km, imputed_km, distance_days,
    gps_mismatch_days, evidence_days, evidence_first_day, evidence_last_day,
    has_telematics; ``rejected_days``: vehicle_id, day, distance_km, reason of
    the vintage's days not credited; ``days``: the credited days (vehicle_id,
    day, distance_km, imputed, source, gps_mismatch), None when not kept."""

    totals: ir.Table
    rejected_days: ir.Table
    days: ir.Table | None


def _service(vehicles: ir.Table) -> ir.Table:
    """Each vehicle's ER-rights, commissioning and decommissioning days."""
    return vehicles.select(
        vehicle_id=vehicles.vehicle_id,
        _er=vehicles.er_rights_signed_date.epoch_days().cast("int64"),
        _start=vehicles.commission_date.epoch_days().cast("int64"),
        _stop=vehicles.decommission_date.epoch_days().cast("int64"),
    )


def vintage_days(
    dist: DistanceTables, vehicles: ir.Table, first_day: int, end_day: int
) -> VintageDays:
    """The credited days of the vintage [first_day, end_day) and each vehicle's totals."""
    v = _service(vehicles).rename(_vid="vehicle_id")
    daily = dist.daily.filter((dist.daily.day >= first_day) & (dist.daily.day < end_day))
    daily = daily.join(v, daily.vehicle_id == v._vid)
    reason = ibis.cases(
        (daily.day < daily._er, ReasonCode.BEFORE_ER_RIGHTS.value),
        (daily.day < daily._start, ReasonCode.OUTSIDE_SERVICE_WINDOW.value),
        (
            daily._stop.notnull() & (daily.day >= daily._stop),
            ReasonCode.OUTSIDE_SERVICE_WINDOW.value,
        ),
        else_=ibis.null("string"),
    )
    daily = daily.mutate(_reason=reason)
    outside = daily.filter(daily._reason.notnull()).select(
        vehicle_id=daily.vehicle_id,
        day=daily.day,
        distance_km=daily.distance_km,
        reason=daily._reason,
    )
    days = daily.filter(daily._reason.isnull()).select(
        "vehicle_id", "day", "distance_km", "imputed", "source", "gps_mismatch"
    )
    rejected_days = union_all([dist.rejected_days, outside])
    rejected_days = rejected_days.filter(
        (rejected_days.day >= first_day) & (rejected_days.day < end_day)
    )
    totals = vehicle_totals(days, dist, vehicles, first_day, end_day)
    return VintageDays(totals=totals, rejected_days=rejected_days, days=days)


def vehicle_totals(
    days: ir.Table, dist: DistanceTables, vehicles: ir.Table, first_day: int, end_day: int
) -> ir.Table:
    """Per accepted vehicle: credited distance and days, evidence days inside its
    window, and whether it reported readings or pings in the vintage."""
    per_vehicle = days.group_by("vehicle_id").aggregate(
        distance_km=days.distance_km.sum(),
        imputed_km=days.distance_km.sum(where=days.imputed),
        distance_days=days.count(),
        gps_mismatch_days=days.count(where=days.gps_mismatch),
    )
    ev = dist.evidence.join(_service(vehicles), "vehicle_id")
    ev = ev.filter(
        (ev.day >= first_day)
        & (ev.day < end_day)
        & (ev.day >= ev._er)
        & (ev.day >= ev._start)
        & (ev._stop.isnull() | (ev.day < ev._stop))
    )
    # Evidence has one row per vehicle and day, so its rows count the days.
    evidence = ev.group_by("vehicle_id").aggregate(
        evidence_days=ev.count(),
        evidence_first_day=ev.day.min(),
        evidence_last_day=ev.day.max(),
    )
    tele = dist.telematics.filter(
        (dist.telematics.day >= first_day) & (dist.telematics.day < end_day)
    )
    tele = tele.select("vehicle_id").distinct().mutate(has_telematics=ibis.literal(True))
    out = vehicles.select("vehicle_id")
    out = out.left_join(per_vehicle, "vehicle_id").drop("vehicle_id_right")
    out = out.left_join(evidence, "vehicle_id").drop("vehicle_id_right")
    return out.left_join(tele, "vehicle_id").drop("vehicle_id_right")


def kernel_vehicles(vehicles: ir.Table, categories: ir.Table) -> ir.Table:
    """What the daily kernel needs of each accepted vehicle (``VEHICLE_COLUMNS``)."""
    service = _service(vehicles)
    cats = categories.select(
        _cat=categories.category,
        max_daily_km=categories.max_daily_km,
        sec_max_kwh_per_km=categories.sec_max_kwh_per_km,
    )
    joined = vehicles.select("vehicle_id", "category").join(service, "vehicle_id")
    joined = joined.join(cats, joined.category == cats._cat)
    return joined.select(
        vehicle_id=joined.vehicle_id,
        max_daily_km=joined.max_daily_km,
        sec_max_kwh_per_km=joined.sec_max_kwh_per_km,
        er_day=joined._er,
        start_day=joined._start,
        stop_day=joined._stop,
    ).select(*VEHICLE_COLUMNS)


def load_vintage_days(runner: Engine, result: DailyResult) -> VintageDays:
    """``vintage_days`` from the daily kernel's result, as engine tables."""
    return VintageDays(
        totals=runner.load_arrow(result.totals, "vehicle_totals"),
        rejected_days=runner.load_arrow(result.rejected_days, "rejected_days"),
        days=None if result.days is None else runner.load_arrow(result.days, "credited_days"),
    )
