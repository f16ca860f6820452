"""Meter interval rule: a meter's interval energy must agree with its register.

Smart meters report, beside the cumulative register, the energy of the
interval ending at each reading (``interval_kwh``). The two are separate
records of the same energy, so comparing them catches a register or an
interval channel gone wrong where neither shows it alone. Per meter and local
day, where interval values are present, their sum must match the sum of the
register's increases over the same intervals within
``meter_interval_tolerance_pct`` of the register increase (methodology,
section 3). A day that does not match is flagged
(``METER_INTERVAL_MISMATCH``) and counts the higher of the two: which record
is right cannot be told from the data, and taking the lower could understate
the station's energy and so the project emissions.

How intervals line up with register increases:

- an increase runs from one accepted reading to the next; a reading rejected
  in between (a register decrease) does not end an interval of the register,
  so its interval energy belongs to the increase that spans it (otherwise a
  rejected reading would make the next day look like a mismatch);
- an increase is compared only when every reading it spans reports an
  interval value; the others count as metered, without the check;
- the first reading of a meter has no earlier reading, so its interval lies
  before the data and is not used.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

METER_DAY_KEYS = ("meter_id", "station_id", "role", "accuracy_class_pct", "day")


def with_interval_spans(readings: ir.Table, rejected: ir.BooleanValue) -> ir.Table:
    """Add ``_span_kwh``: the interval energy since the previous accepted reading.

    `rejected` marks the readings a meter rule is about to reject; their
    interval values are added to the next accepted reading's. The value is
    null when a reading of the span has no interval value.
    """
    marked = readings.mutate(_dropped=rejected.fill_null(False))
    order = [marked.ts, marked[SOURCE_FILE], marked[SOURCE_ROW]]
    before = ibis.window(group_by=marked.meter_id, order_by=order, rows=(None, -1))
    # Accepted readings strictly before a row: the same for a rejected row and
    # the accepted reading that follows it, so it names their common span.
    marked = marked.mutate(_span=(~marked._dropped).cast("int64").sum().over(before).fill_null(0))
    spans = marked.group_by([marked.meter_id, marked._span]).aggregate(
        _span_sum=marked.interval_kwh.sum(),
        _span_gaps=marked.interval_kwh.isnull().cast("int64").sum(),
    )
    spans = spans.select(
        _sm=spans.meter_id,
        _ss=spans._span,
        _span_kwh=ibis.ifelse(spans._span_gaps == 0, spans._span_sum, ibis.null("float64")),
    )
    joined = marked.left_join(spans, [marked.meter_id == spans._sm, marked._span == spans._ss])
    return joined.drop("_sm", "_ss", "_dropped", "_span")


def meter_days(consumption: ir.Table, tolerance_pct: float) -> ir.Table:
    """One row per meter and local day: register energy, interval check, energy counted.

    `consumption` has one row per register increase (``energy_kwh``) with the
    interval energy of the same span (``interval_kwh``, null when unknown).
    ``energy_kwh`` of the result is the register's, raised to the interval
    sum on a mismatching day when that is higher.
    """
    c = consumption
    checked = c.interval_kwh.notnull()
    days = c.group_by(list(METER_DAY_KEYS)).aggregate(
        register_kwh=c.energy_kwh.sum(),
        _checked_register=c.energy_kwh.sum(where=checked),
        _interval=c.interval_kwh.sum(),
        _intervals=c.interval_kwh.count(),
    )
    gap = days._interval - days._checked_register
    tolerance = tolerance_pct / 100.0
    mismatch = (days._intervals > 0) & (gap.abs() > tolerance * days._checked_register.abs())
    mismatch = mismatch.fill_null(False)
    excess = ibis.ifelse(mismatch, gap.clip(lower=0.0), 0.0)
    return days.select(
        *METER_DAY_KEYS,
        register_kwh=days.register_kwh,
        interval_mismatch=mismatch,
        energy_kwh=days.register_kwh + excess,
    )
