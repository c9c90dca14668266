"""Time windows as UTC days: which days a time frame or a chart week covers, and how long each kind of key lives.

Windows are rolling and include today, so an event counts the moment it happens
(GitLab reports only complete ISO weeks, hiding fresh events for up to a week).
"""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

FRAME_DAYS = {"7d": 7, "28d": 28}
WINDOW_FRAMES = ("7d", "28d")  # a unique rule's frames kept as one HyperLogLog each (see counters.py)
CHART_WEEKS = 12
# Daily HyperLogLogs (14 KB each once dense) live as long as the 28-day frame needs them, plus two days
# of slack: a key never expires while a window that needs it is built or read, and the daily pass may
# miss a day. Earlier frames are read from kept numbers (below), never from daily keys.
DAILY_DAYS = 28 + 2
# Daily totals are a few bytes each (fields of one hash per rule): they cover the whole chart.
TOTAL_DAYS = 7 * CHART_WEEKS + 1
# A complete 7d or 28d frame (ending before today) is counted once from daily keys and kept as a number:
# the 7d ones are the chart's weeks (12 of them), the 28d ones the dashboard's previous 28 days.
KEPT_DAYS = {"7d": TOTAL_DAYS, "28d": DAILY_DAYS}
EPOCH = date(1970, 1, 1)


def today() -> date:
    return datetime.now(UTC).date()


def days_of(frame: str, until: date) -> list[date]:
    """The UTC days of a `7d` or `28d` frame ending on `until` (included), newest first."""
    return days_back(until, FRAME_DAYS[frame])


def computable_days(frame: str, daily_days: int = DAILY_DAYS) -> int:
    """How many complete frames (ending yesterday and before) daily keys can still count; older ones are kept numbers."""
    return daily_days - FRAME_DAYS[frame]


def days_back(until: date, count: int) -> list[date]:
    return [until - timedelta(days=offset) for offset in range(count)]


def chart_weeks(until: date, weeks: int = CHART_WEEKS) -> list[tuple[date, date]]:
    """(first day, last day) of the rolling 7-day weeks ending `until`, oldest first.

    The newest week is exactly the `7d` frame, so the last chart point equals the metric.
    """
    return [(until - timedelta(days=7 * back + 6), until - timedelta(days=7 * back)) for back in reversed(range(weeks))]


@lru_cache(maxsize=1024)
def day_stamp(day: date) -> str:
    """`20260315`: cached, since every key of every event and read needs one (strftime costs 1.6 µs)."""
    return day.strftime("%Y%m%d")


def day_number(day: date) -> int:
    """Days since 1970-01-01: a short hash field name (a small integer in Redis's compact encoding)."""
    return (day - EPOCH).days


def seconds_until_end_of(day: date, now_seconds: float) -> int:
    """Seconds from the Unix time `now_seconds` until `day` ends (UTC): a key's TTL as a relative EXPIRE."""
    return (day_number(day) + 1) * 86400 - int(now_seconds)
