"""Geometry of the console's server-rendered SVG charts (templates draw, this measures).
Every chart also has its numbers as text, so it reads without colour or sight."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.console.format import words
from app.reconcile.domain import CATEGORIES
from app.reconcile.valuation import category_words

WIDTH = 640
PLOT_LEFT = 40
PLOT_TOP = 10


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    css: str = ""


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    empty: bool = False


def drift_history(runs: Sequence[Any], values: Mapping[int, Decimal]) -> Chart:
    """Drift rows per run (oldest left), stacked by category, over the last runs."""
    height, plot_h = 200, 150
    chart = Chart(WIDTH, height)
    totals = [sum(int((r.summary or {}).get(c, 0)) for c in CATEGORIES) for r in runs]
    if not runs:
        chart.empty = True
        return chart
    top = _nice_max(max(totals))
    slot = (WIDTH - PLOT_LEFT - 10) / max(len(runs), 1)
    for i, run in enumerate(runs):
        x = PLOT_LEFT + i * slot + slot * 0.15
        y: float = PLOT_TOP + plot_h
        for n, category in enumerate(CATEGORIES):
            count = int((run.summary or {}).get(category, 0))
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            chart.bars.append(
                Bar(
                    x,
                    y,
                    slot * 0.7,
                    h,
                    "",
                    f"run {run.id}: {category_words(category)} {count}",
                    f"c{n}",
                )
            )
        value = values.get(run.id)
        money = f", value {value:,.2f}" if value else ""
        chart.bars.append(
            Bar(
                x, PLOT_TOP, slot * 0.7, plot_h, "", f"run {run.id}: {totals[i]} rows{money}", "hit"
            )
        )
        chart.labels.append((x + slot * 0.35, PLOT_TOP + plot_h + 16, f"#{run.id}"))
    chart.ticks = [(PLOT_TOP + plot_h * (1 - f), f"{int(top * f):,}") for f in (0, 0.5, 1)]
    chart.legend = [(f"c{n}", category_words(c)) for n, c in enumerate(CATEGORIES)]
    return chart


def backlog(stages: Mapping[str, Sequence[int]], buckets: Sequence[str]) -> Chart:
    """Open orders per stage, one horizontal bar each, split by age."""
    row_h, label_w = 34, 150
    chart = Chart(WIDTH, PLOT_TOP + row_h * len(stages) + 10)
    top = _nice_max(max((sum(v) for v in stages.values()), default=0))
    span = WIDTH - label_w - 60
    for i, (stage, counts) in enumerate(stages.items()):
        y = PLOT_TOP + i * row_h
        x = float(label_w)
        for n, count in enumerate(counts):
            if not count:
                continue
            w = span * count / top
            chart.bars.append(
                Bar(x, y, w, row_h - 10, "", f"{stage}: {count} {buckets[n]}", f"a{n}")
            )
            x += w
        chart.labels.append((4, y + row_h / 2, words(stage)))
        chart.labels.append((x + 6, y + row_h / 2, f"{sum(counts):,}"))
    chart.legend = [(f"a{n}", b) for n, b in enumerate(buckets)]
    chart.empty = not any(sum(v) for v in stages.values())
    return chart


def demand(rows: Sequence[Mapping[str, Any]]) -> Chart:
    """Unallocated demand against available stock per SKU: two thin bars per SKU."""
    row_h, label_w = 30, 150
    chart = Chart(WIDTH, PLOT_TOP + row_h * len(rows) + 10, empty=not rows)
    top = _nice_max(max((max(r["demand"], r["available"], 0) for r in rows), default=0))
    span = WIDTH - label_w - 70
    for i, r in enumerate(rows):
        y = PLOT_TOP + i * row_h
        for n, key in enumerate(("demand", "available")):
            w = span * max(r[key], 0) / top
            chart.bars.append(
                Bar(label_w, y + n * 11, max(w, 1), 10, "", f"{r['sku']}: {key} {r[key]}", key)
            )
        chart.labels.append((4, y + 11, str(r["sku"])[:22]))
        chart.labels.append((label_w + span + 6, y + 11, f"{r['demand']:,} / {r['available']:,}"))
    chart.legend = [("demand", "wanted, not reserved"), ("available", "available to sell")]
    return chart
