"""The project page's activity chart as SVG geometry: issues opened per rolling week.

Weeks are the tracking core's chart weeks, so this chart and the metrics charts
agree on where a week starts.
"""

from dataclasses import dataclass
from datetime import timedelta

from .internal_events.windows import CHART_WEEKS, chart_weeks

WIDTH, HEIGHT, GAP = 360, 80, 4


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    count: int
    week_ending: str


def first_day(until, weeks=CHART_WEEKS):
    return until - timedelta(days=7 * weeks - 1)


def weekly_bars(per_day, until, weeks=CHART_WEEKS):
    """One bar per week ending `until`, oldest first, scaled so the busiest week fills the height."""
    totals = [
        (last, sum(n for day, n in per_day.items() if first <= day <= last))
        for first, last in chart_weeks(until, weeks)
    ]
    tallest = max((count for _, count in totals), default=0) or 1
    width = WIDTH // weeks - GAP
    bars = []
    for index, (last, count) in enumerate(totals):
        height = round(count * HEIGHT / tallest)
        bars.append(Bar(x=index * (width + GAP), y=HEIGHT - height, width=width, height=height, count=count,
                        week_ending=last.isoformat()))
    return bars
