"""The project page's activity chart: issues opened per rolling week.

Weeks are the tracking core's chart weeks, so this chart and the metrics charts
agree on where a week starts; both are drawn with `weekly_chart`.
"""

from datetime import timedelta

from ..internal_events.windows import CHART_WEEKS, chart_weeks
from ..weekly_chart import bars

WIDTH, HEIGHT, GAP = 360, 80, 4


def first_day(until, weeks=CHART_WEEKS):
    return until - timedelta(days=7 * weeks - 1)


def weekly_bars(per_day, until, weeks=CHART_WEEKS):
    """One bar per week ending `until`, oldest first, scaled so the busiest week fills the height."""
    totals = [
        (last, sum(n for day, n in per_day.items() if first <= day <= last))
        for first, last in chart_weeks(until, weeks)
    ]
    return bars(totals, WIDTH, HEIGHT, GAP)
