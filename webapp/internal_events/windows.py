"""Time windows as UTC days: which daily buckets a time frame or a chart week covers.

Windows are rolling and include today, so an event counts the moment it happens
(GitLab reports only complete ISO weeks, hiding fresh events for up to a week).
"""

from datetime import date, datetime, timedelta, timezone

FRAME_DAYS = {"7d": 7, "28d": 28, "1d": 1}  # 1d: the dashboard's daily counts
CHART_WEEKS = 12
# Daily buckets live long enough to chart 12 rolling weeks, plus one day of slack
# so a bucket never expires while a chart that needs it is being drawn.
RETENTION_DAYS = 7 * CHART_WEEKS + 1
RETENTION_SECONDS = RETENTION_DAYS * 86400


def today():
    return datetime.now(timezone.utc).date()


def days_of(frame, until):
    """The UTC days of a `7d` or `28d` frame ending on `until` (included), newest first."""
    return days_back(until, FRAME_DAYS[frame])


def days_back(until, count):
    return [until - timedelta(days=offset) for offset in range(count)]


def chart_weeks(until, weeks=CHART_WEEKS):
    """(first day, last day) of the rolling 7-day weeks ending `until`, oldest first.

    The newest week is exactly the `7d` frame, so the last chart point equals the metric.
    """
    return [
        (until - timedelta(days=7 * back + 6), until - timedelta(days=7 * back))
        for back in reversed(range(weeks))
    ]


def day_stamp(day: date):
    return day.strftime("%Y%m%d")
