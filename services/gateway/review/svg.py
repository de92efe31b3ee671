"""Inline SVG charts (pure): sparklines for table rows and labelled line charts for the model page.

Values are ``None`` on days without data; a gap breaks the line rather than being drawn as zero,
so a missing day never reads as "no usage". Every chart has a ``<title>`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

Series = Sequence[float | None]


def _scale(values: Series, *, from_zero: bool = True) -> tuple[float, float]:
    """The value range drawn: from zero on charts (honest heights), from the minimum on
    sparklines (their job is the shape of the trend)."""
    present = [v for v in values if v is not None]
    if not present:
        return 0.0, 1.0
    low, high = min(present), max(present)
    if from_zero:
        low = min(0.0, low)
    return low, high if high > low else low + 1.0


def _runs(
    values: Series, width: float, height: float, pad: float, *, from_zero: bool = True
) -> list[list[tuple[float, float]]]:
    """Point runs between gaps, in SVG coordinates (x left to right, y up from the bottom)."""
    low, high = _scale(values, from_zero=from_zero)
    step = (width - 2 * pad) / max(1, len(values) - 1)
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
                current = []
            continue
        y = height - pad - (value - low) / (high - low) * (height - 2 * pad)
        current.append((pad + i * step, y))
    if current:
        runs.append(current)
    return runs


def _path(runs: list[list[tuple[float, float]]], digits: int = 1) -> str:
    """Path data; ``digits=0`` (sparklines) keeps a 720-row page small."""
    return " ".join("M" + " L".join(f"{x:.{digits}f},{y:.{digits}f}" for x, y in run) for run in runs)


def _dots(runs: list[list[tuple[float, float]]], radius: float) -> str:
    """Single-point runs are invisible as a path: draw them as dots."""
    return "".join(
        f'<circle cx="{run[0][0]:.0f}" cy="{run[0][1]:.0f}" r="{radius}"/>' for run in runs if len(run) == 1
    )


def sparkline(values: Series, *, label: str, width: int = 96, height: int = 22) -> str:
    """A small line of ``values`` (fixed size, so rows keep their height); ``label`` is its title."""
    runs = _runs(values, width, height, 2, from_zero=False)
    title = escape(label)
    size = f'width="{width}" height="{height}" role="img"'
    if not runs:
        return f'<svg class="spark empty" {size}><title>{title}</title></svg>'
    return (
        f'<svg class="spark" {size}><title>{title}</title>'
        f'<path d="{_path(runs, 0)}"/>{_dots(runs, 1.5)}</svg>'
    )


def line_chart(
    values: Series,
    *,
    title: str,
    first_label: str,
    last_label: str,
    width: int = 640,
    height: int = 160,
    levels: Sequence[str] | None = None,
) -> str:
    """A labelled chart: the line, the maximum on the axis, first and last day under it.

    ``levels`` names the integer values of a categorical series (risk level 0, 1, 2 …) on the axis.
    """
    pad, left, bottom = 6.0, 64.0, 18.0
    plot_w, plot_h = width - left, height - bottom
    runs = [[(x + left - pad, y) for x, y in run] for run in _runs(values, plot_w, plot_h, pad)]
    low, high = _scale(values)
    heading = escape(title)
    axis = (
        [
            (plot_h - pad - i / max(1, len(levels) - 1) * (plot_h - 2 * pad), name)
            for i, name in enumerate(levels)
        ]
        if levels
        else [(pad, _number(high)), (plot_h - pad, _number(low))]
    )
    ticks = "".join(
        f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>'
        f'<line class="grid" x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>'
        for y, text in axis
    )
    body = (
        f'<path d="{_path(runs)}"/>{_dots(runs, 2.5)}'
        if runs
        else f'<text class="axis" x="{left + plot_w / 2}" y="{plot_h / 2}" '
        'text-anchor="middle">no data</text>'
    )
    return (
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{heading}"><title>{heading}</title>{ticks}{body}'
        f'<text class="axis" x="{left}" y="{height - 4}">{escape(first_label)}</text>'
        f'<text class="axis" x="{width}" y="{height - 4}" text-anchor="end">{escape(last_label)}</text></svg>'
    )


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
