"""Line charts drawn on the server as inline SVG: no script, no fetch, print-ready."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 90, 20, 20, 70
TICKS = 5


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    points: Sequence[tuple[int, float]]
    dashed: bool = False
    width: float = 2.0


def _nice_step(span: float) -> float:
    raw = span / TICKS if span > 0 else 1.0
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def line_chart(
    series: Sequence[Series],
    title: str,
    y_label: str,
    number: Callable[[float], str],
) -> Markup:
    """A chart of whole-year series; empty series are left out of the legend."""
    drawn = [s for s in series if s.points]
    xs = [x for s in drawn for x, _y in s.points] or [0, 1]
    ys = [y for s in drawn for _x, y in s.points] or [0.0, 1.0]
    x_min, x_max = min(xs), max(xs)
    if x_min == x_max:
        x_min, x_max = x_min - 1, x_max + 1
    step = _nice_step(max(ys) - min(min(ys), 0))
    y_min = min(0.0, (min(ys) // step) * step)
    y_max = max(step, -(-max(ys) // step) * step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - y_min) / (y_max - y_min) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-size="11" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#c8d0da"/>',
    ]
    tick = y_min
    while tick <= y_max + step / 2:
        y = py(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6eaef"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(number(tick))}</text>'
        )
        tick += step
    for year in range(int(x_min), int(x_max) + 1):
        x = px(year)
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{year}</text>'
        )
    parts.append(
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for index, s in enumerate(drawn):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(s.points))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{s.colour}" '
            f'stroke-width="{s.width}"{dash}/>'
        )
        for x, y in s.points:
            parts.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{s.colour}">'
                f"<title>{escape(s.label)} {x}: {escape(number(y))}</title></circle>"
            )
        legend_x = LEFT + index * 240
        legend_y = HEIGHT - 22
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{s.colour}" stroke-width="2"{dash}/>'
            f'<text x="{legend_x + 30}" y="{legend_y + 4}">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
