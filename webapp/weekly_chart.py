"""Bar geometry for weekly values (a metric's, a project's activity), drawn as SVG by the server.

Server-made SVG needs no charting library and no script, so it works under the
app's strict Content-Security-Policy and shows the same thing with JS disabled.
"""

from dataclasses import dataclass

WIDTH, HEIGHT, GAP = 240, 48, 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    week_ending: str


def bars(weeks, width=WIDTH, height=HEIGHT, gap=GAP):
    """One bar per (last day, value), oldest first, scaled so the busiest week fills the height.

    A week with any count gets at least one unit, so it never looks like an empty one.
    """
    if not weeks:
        return []
    tallest = max(value for _, value in weeks) or 1
    step = width / len(weeks)
    drawn = []
    for index, (last_day, value) in enumerate(weeks):
        bar_height = max(value * height / tallest, 1 if value else 0)
        drawn.append(
            Bar(
                x=round(index * step, 2),
                y=round(height - bar_height, 2),
                width=round(step - gap, 2),
                height=round(bar_height, 2),
                value=value,
                week_ending=last_day.isoformat(),
            )
        )
    return drawn
