"""Charts of a monitoring report: monthly distance, station energy and reductions.

Verifiers compare months to spot gaps and outliers (a month with distance but
no energy, a dip after a device recall), so each series is drawn as monthly
bars. Charts are rendered to PNG bytes with matplotlib's Agg backend, which
needs no display and gives the same picture on a laptop and on CI.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

CHART_DPI = 120


def monthly_bar_chart_png(
    months: Sequence[str], values: Sequence[float], title: str, unit: str, colour: str
) -> bytes:
    """One bar per month; an empty series still gives a labelled, empty chart."""
    figure, axes = plt.subplots(figsize=(7.0, 2.6), dpi=CHART_DPI)
    try:
        axes.bar(list(months), list(values), color=colour)
        axes.set_title(title, fontsize=10)
        axes.set_ylabel(unit, fontsize=8)
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)
        axes.tick_params(axis="y", labelsize=7)
        axes.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
