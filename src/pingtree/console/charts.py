"""Charts drawn on the server as SVG: no script, no library to load, readable without either.

Each bucket (an hour or a day) is a link to the leads behind it, and every chart has its
numbers in a table beside it. Bars of one value per row (per buyer, per campaign) are
plain HTML (`Bar`), which reflows on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 12, 30
LABELS_SHOWN = 8


@dataclass(frozen=True)
class Series:
    """One named series of a chart: a value per bucket, and where each value drills down to."""

    name: str
    color: str
    values: Sequence[Decimal | int]
    links: Sequence[str | None] = ()


def nice_top(value: float) -> float:
    """The round number (1, 2 or 5 times a power of ten) at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def nice_step(value: float) -> float:
    """A step of 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten, at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _axis(low: float, high: float, money: bool) -> tuple[list[str], float, float]:
    # Four steps of a round size: every gridline has a round label.
    if low < 0 < high or low < 0:
        step = nice_step((max(high, 0.0) - low) / 4)
        bottom = -step * math.ceil(-low / step)
        top = bottom + 4 * step if bottom + 4 * step >= high else step * math.ceil(high / step)
    else:
        bottom = 0.0
        top = 4 * nice_step(high / 4) if high > 0 else 0.0
    if top == bottom:
        top = 1.0
    ticks = [bottom + (top - bottom) * i / 4 for i in range(5)]
    # One format per axis: whole numbers when every tick is one, else cents throughout.
    whole = all(abs(t - round(t)) < 1e-9 for t in ticks) and not (money and top - bottom < 10)
    lines = []
    for value in ticks:
        y = _y(value, bottom, top)
        label = f"{value:,.0f}" if whole else f"{value:,.2f}"
        lines.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e3e6ec"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#5c6477">{label}</text>'
        )
    return lines, bottom, top


def _y(value: float, bottom: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - bottom) / (top - bottom))


def _x_labels(labels: Sequence[str], step: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / LABELS_SHOWN))
    return [
        f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
        f'font-size="11" fill="#5c6477">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _frame(title: str, parts: list[str], chart_id: str) -> Markup:
    # Every text and link in parts went through escape(); numbers are formatted here.
    return Markup(  # noqa: S704
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{chart_id}-title" '
        f'id="{chart_id}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>{"".join(parts)}</svg>'
    )


def stacked_columns(
    chart_id: str, title: str, labels: Sequence[str], stacks: Sequence[Series]
) -> Markup:
    """One column per bucket, its series stacked; each piece links to its leads."""
    count = max(len(labels), 1)
    totals = [sum(float(s.values[i]) for s in stacks) for i in range(len(labels))]
    grid, bottom, top = _axis(0.0, max(totals, default=0.0), money=False)
    step = (WIDTH - LEFT - RIGHT) / count
    width = max(step * 0.7, 1.0)
    parts = list(grid)
    for i, label in enumerate(labels):
        base = 0.0
        x = LEFT + step * i + (step - width) / 2
        for series in stacks:
            value = float(series.values[i])
            if value <= 0:
                continue
            y_top, y_base = _y(base + value, bottom, top), _y(base, bottom, top)
            tip = f"{label}: {value:,.0f} {series.name}"
            rect = (
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                f'height="{max(y_base - y_top, 0.5):.1f}" fill="{series.color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            link = series.links[i] if i < len(series.links) else None
            parts.append(_linked(rect, link, tip))
            base += value
    parts += _x_labels(labels, step)
    return _frame(title, parts, chart_id)


def lines(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    links: Sequence[str | None] = (),
) -> Markup:
    """A line per series over the buckets; each bucket's column links to its leads."""
    count = max(len(labels), 1)
    values = [float(v) for s in series for v in s.values]
    grid, bottom, top = _axis(min(values, default=0.0), max(values, default=0.0), money=True)
    step = (WIDTH - LEFT - RIGHT) / count
    parts = list(grid)
    for i, label in enumerate(labels):
        tip = f"{label}: " + ", ".join(f"{s.name} {float(s.values[i]):,.2f}" for s in series)
        rect = (
            f'<rect x="{LEFT + step * i:.1f}" y="{TOP}" width="{step:.1f}" '
            f'height="{HEIGHT - TOP - BOTTOM}" fill="transparent">'
            f"<title>{escape(tip)}</title></rect>"
        )
        parts.append(_linked(rect, links[i] if i < len(links) else None, tip))
    for s in series:
        points = " ".join(
            f"{LEFT + step * (i + 0.5):.1f},{_y(float(v), bottom, top):.1f}"
            for i, v in enumerate(s.values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2" '
            f'pointer-events="none"/>'
        )
        if len(s.values) <= 48:
            parts += [
                f'<circle cx="{LEFT + step * (i + 0.5):.1f}" cy="{_y(float(v), bottom, top):.1f}" '
                f'r="2.5" fill="{s.color}" pointer-events="none"/>'
                for i, v in enumerate(s.values)
            ]
    parts += _x_labels(labels, step)
    return _frame(title, parts, chart_id)


def _linked(shape: str, link: str | None, label: str) -> str:
    if not link:
        return shape
    return f'<a href="{escape(link)}" aria-label="{escape(label)}">{shape}</a>'


@dataclass(frozen=True)
class Bar:
    """One row of a bar list: its label, the share of the longest bar, the figure shown."""

    label: str
    share: float
    figure: str
    link: str | None = None
    tone: str = ""


def bars(
    rows: Sequence[tuple[str, Decimal | float | None, str, str | None]],
    *,
    scale: float | None = None,
    full_is_bad: bool = False,
) -> list[Bar]:
    """Bars for (label, value, figure text, link) rows; scale: the value of a full bar.

    full_is_bad: a bar at the scale is marked (a cap reached), not a good figure.
    """
    values = [float(v) for _, v, _, _ in rows if v is not None]
    whole = scale if scale is not None else max(values, default=0.0)
    out = []
    for label, value, figure, link in rows:
        share = 0.0 if value is None or whole <= 0 else max(0.0, min(float(value) / whole, 1.0))
        full = scale is not None and value is not None and float(value) >= scale
        tone = "bad" if full_is_bad and full else ""
        out.append(Bar(label, share * 100, figure, link, tone))
    return out
