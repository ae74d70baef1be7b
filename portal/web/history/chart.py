"""The picture of the last months, drawn by the server: the geometry of an inline SVG
(bars of what was paid and charged each month, the line of the balance at each month's
end). The template draws it; colours come from the stylesheet, so it follows light and
dark mode, and a table beside it says the same in words."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from portal.domain.history import CHART_MONTHS, MonthTotals

WIDTH, HEIGHT = 360, 220  # the viewBox: one unit is one CSS pixel on a 360 px phone
LEFT, RIGHT, TOP, BOTTOM = 6, 354, 22, 176  # the plot; month names below it
BAR_SHARE = 0.36  # of a month's width, for each of its two bars


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Slot:
    month: date
    label: str  # the month's short name
    year: str  # the year under January and the first month, else ""
    center: float
    paid: Bar
    charged: Bar
    balance_y: float
    totals: MonthTotals


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    slots: list[Slot]
    zero_y: float
    top_y: float
    top_value: int  # kopecks at the top gridline
    bottom_y: float
    bottom_value: int  # kopecks at the bottom gridline (0 unless a balance went below)

    @property
    def balance_points(self) -> str:
        return " ".join(f"{s.center},{s.balance_y}" for s in self.slots)


def nice_ceiling(kopecks: int) -> int:
    """The gridline's value: whole roubles, 1, 2, 2.5 or 5 times a power of ten, >= the
    figure (so the scale reads 2 000 ₽, not 1 873,40 ₽)."""
    roubles = max(math.ceil(kopecks / 100), 1)
    power = 10 ** (len(str(roubles)) - 1)
    step = next(s for s in (1, 2, 2.5, 5, 10) if s * power >= roubles)
    return int(step * power * 100)


def chart(months: list[MonthTotals], label: Callable[[date], str]) -> Chart | None:
    """The picture of `months` (oldest first), the newest at the right edge, each month
    taking a twelfth of the width; None without months."""
    if not months:
        return None
    high = max(max(m.paid, m.charged, m.closing) for m in months)
    low = min(0, *(m.closing for m in months))
    top = nice_ceiling(high) if high > 0 else 0
    bottom = -nice_ceiling(-low) if low < 0 else 0
    if top == bottom:
        top = 100_00
    scale = (BOTTOM - TOP) / (top - bottom)

    def y(value: int) -> float:
        return round(TOP + (top - value) * scale, 1)

    zero = y(0)
    slot_width = (RIGHT - LEFT) / CHART_MONTHS
    bar = round(slot_width * BAR_SHARE, 1)
    first = CHART_MONTHS - len(months)
    slots = []
    for i, totals in enumerate(months):
        center = round(LEFT + (first + i + 0.5) * slot_width, 1)
        slots.append(
            Slot(
                month=totals.month,
                label=label(totals.month),
                year=str(totals.month.year) if i == 0 or totals.month.month == 1 else "",
                center=center,
                paid=_bar(center - bar - 1, bar, totals.paid, y, zero),
                charged=_bar(center + 1, bar, totals.charged, y, zero),
                balance_y=y(totals.closing),
                totals=totals,
            )
        )
    return Chart(WIDTH, HEIGHT, slots, zero, y(top), top, y(bottom), bottom)


def _bar(x: float, width: float, value: int, y, zero: float) -> Bar:
    """A bar up from the zero line (a sum is never drawn below it)."""
    top = y(max(value, 0))
    return Bar(round(x, 1), top, width, round(zero - top, 1))
