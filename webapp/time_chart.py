"""A readable chart of values over time: bars on a labelled value axis, dates along the bottom.

Pure geometry: the template `dashboard/time_chart.svg` draws it as SVG on the server,
so it needs no script or charting library under the strict CSP, and its data table
says the same to a screen reader.
"""

from dataclasses import dataclass
from math import floor, log10

from .weekly_chart import bars

WIDTH, HEIGHT = 560, 190
LEFT, BOTTOM, TOP = 44, 22, 8  # room for the value labels, the dates, the top tick's label
TICKS = 4


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


def nice_ceiling(value):
    """The smallest 1, 2 or 5 times a power of ten that is >= value (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** floor(log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def short_number(value):
    """1200 -> 1.2k, 3000000 -> 3M: labels that fit beside the axis."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}"


def layout(points, width=WIDTH, height=HEIGHT, date_format=None):
    """Bars, value ticks and date labels for [(date, value)], oldest first."""
    plot_width, plot_height = width - LEFT, height - BOTTOM - TOP
    step = nice_ceiling(max((value for _, value in points), default=0) / TICKS)
    step = max(step, 1) if all(float(value).is_integer() for _, value in points) else step  # counts: whole ticks
    top = step * TICKS
    drawn = bars([(day, value) for day, value in points], plot_width, plot_height, gap=max(1, plot_width / 200))
    # bars() scales to the largest value; rescale to the axis' rounded top so ticks and bars agree.
    tallest = max((value for _, value in points), default=0) or 1
    scale = (tallest / top) if top else 1
    shaped = [
        {"x": LEFT + bar.x, "y": TOP + plot_height - bar.height * scale, "width": bar.width,
         "height": bar.height * scale, "value": bar.value, "day": bar.week_ending}
        for bar in drawn
    ]
    ticks = [Tick(TOP + plot_height * (1 - i / TICKS), short_number(top * i / TICKS)) for i in range(TICKS + 1)]
    label = date_format or (lambda day: day.strftime("%b %-d"))
    step = max(1, len(points) // 4)
    dates = [
        {"x": LEFT + (index + 0.5) * plot_width / len(points), "label": label(day)}
        for index, (day, _) in enumerate(points) if (len(points) - 1 - index) % step == 0
    ]
    return {"bars": shaped, "ticks": ticks, "dates": dates, "width": width, "height": height,
            "left": LEFT, "base": TOP + plot_height}
