"""A readable chart of values over time: bars on a labelled value axis, dates along the bottom.

Pure geometry: the template `dashboard/time_chart.svg` draws it as SVG on the server,
so it needs no script or charting library under the strict CSP, and its data table
says the same to a screen reader.
"""

from dataclasses import dataclass
from math import floor, log10

from .weekly_chart import bars

HEIGHT = 190  # pixels; the width is the panel's: bars and dates are placed in percent of it
BOTTOM, TOP = 22, 8  # room for the dates, the top tick's label (the value labels sit in the chart's CSS padding)
TICKS = 4
DATES = 4  # date labels at most: they fit side by side on a 360 px screen


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


def layout(points, height=HEIGHT, date_format=None):
    """Bars, value ticks and date labels for [(date, value)], oldest first.

    Vertical positions are pixels; horizontal ones are percent of the plot's width, so the chart
    fills its panel at any width with text of one size, instead of scaling (or scrolling) as a picture.
    """
    plot_height = height - BOTTOM - TOP
    step = nice_ceiling(max((value for _, value in points), default=0) / TICKS)
    step = max(step, 1) if all(float(value).is_integer() for _, value in points) else step  # counts: whole ticks
    top = step * TICKS
    drawn = bars(points, 100, plot_height, gap=20 / max(len(points), 1))  # a fifth of each bar's slot between bars
    # bars() scales to the largest value; rescale to the axis' rounded top so ticks and bars agree.
    tallest = max((value for _, value in points), default=0) or 1
    scale = (tallest / top) if top else 1
    shaped = [
        {
            "x": bar.x,
            "y": TOP + plot_height - bar.height * scale,
            "width": bar.width,
            "height": bar.height * scale,
            "value": bar.value,
            "day": bar.week_ending,
        }
        for bar in drawn
    ]
    ticks = [Tick(TOP + plot_height * (1 - i / TICKS), short_number(top * i / TICKS)) for i in range(TICKS + 1)]
    label = date_format or (lambda day: day.strftime("%b %-d"))
    every = max(1, -(-len(points) // DATES))
    last = len(points) - 1
    dates = [
        # The newest date ends at its bar's right edge, so it is never cut off; the others sit under their bar.
        {"x": 100 * (index + 1) / len(points), "anchor": "end", "label": label(day)}
        if index == last
        else {"x": 100 * (index + 0.5) / len(points), "anchor": "middle", "label": label(day)}
        for index, (day, _) in enumerate(points)
        if (last - index) % every == 0
    ]
    return {"bars": shaped, "ticks": ticks, "dates": dates, "height": height, "base": TOP + plot_height}
