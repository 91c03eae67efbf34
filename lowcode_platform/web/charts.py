"""The funnel chart's geometry: one bar per stage, as long as the deals that entered it, its figures beside it.

Pure numbers for the template (`templates/web/_funnel.svg`), which writes the SVG and escapes every text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WIDTH = 600
BAR = 44
GAP = 22
LEFT = 150  # room for the stage names
FIGURES = 190  # room for the figures after the longest bar
MIN_BAR = 4


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    x: float
    y: float
    width: float
    entered: int
    open: int
    weighted: Decimal | None
    conversion: Decimal | None  # to the next stage, as a share


def funnel_bars(stages: Sequence[dict[str, Any]], locale: str) -> tuple[list[Bar], int]:
    """Bars of the pipeline's stages (not lost), widths relative to the widest stage; and the chart height."""
    shown = [s for s in stages if s["key"] != "lost"]
    widest = max([s["entered"] for s in shown] + [s["count"] for s in shown] + [1])
    room = WIDTH - LEFT - FIGURES
    bars = []
    for i, stage in enumerate(shown):
        size = max(stage["entered"], stage["count"])
        width = max(MIN_BAR, room * size / widest)
        bars.append(Bar(
            key=stage["key"], label=stage["label"].get(locale) or stage["label"]["en"],
            x=LEFT, y=i * (BAR + GAP), width=width, entered=stage["entered"],
            open=stage["count"], weighted=stage["weighted_amount"], conversion=stage["conversion_rate"],
        ))
    return bars, len(shown) * (BAR + GAP)
