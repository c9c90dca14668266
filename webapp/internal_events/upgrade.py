"""What an older release left in Redis, brought to today's layout once, by the daily pass (under its lock).

- Daily totals: before they became one hash per rule (`<rule base>:days`, a field a day), each total or
  sum rule had a counter a day (`<rule base>:<YYYYMMDD>`). Each such key is added into its rule's hash
  and deleted in one script call, so a run cut short, or run twice, counts every day once.
- Kept 28-day counts: the release before kept daily HyperLogLogs LEGACY_DAILY_DAYS. While they last,
  every 28-day frame they can still count is kept as a number, so the dashboard's previous 28 days
  survive the shorter retention.

A marker key records that the upgrade finished; until then every daily pass runs it again.
"""

import re
from datetime import date, datetime

from .counters import CounterStore
from .keys import KeySpace
from .model import Definitions
from .windows import TOTAL_DAYS, day_number

LAYOUT = "frames-kept-1"
LEGACY_DAILY_DAYS = 2 * 28 + 2
OLD_DAILY_TOTAL = re.compile(r"^(?P<base>\{[^}]*\}:(?P<kind>[ts])(?::.*)?):(?P<stamp>\d{8})$", re.DOTALL)

# KEYS: an old daily total, its rule's hash.  ARGV: the day's field, 'h' (HINCRBY) or 'f' (HINCRBYFLOAT).
# Anything but a counter under that name is left alone.
MOVE_DAILY_TOTAL = """
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
local amount = redis.call('GET', KEYS[1])
if not tonumber(amount) then return 0 end
redis.call(ARGV[2] == 'h' and 'HINCRBY' or 'HINCRBYFLOAT', KEYS[2], ARGV[1], amount)
redis.call('DEL', KEYS[1])
return 1
"""


def upgrade(counters: CounterStore, definitions: Definitions, day: date) -> int:
    """Bring an older release's keys to today's layout, unless done before; the number of daily totals moved."""
    marker = layout_marker(counters.keys)
    if counters.redis.get(marker) == LAYOUT.encode():
        return 0
    moved = move_daily_totals(counters, day)
    counters.keep_frames(definitions.unique_rule_sets_in_use(), day, daily_days=LEGACY_DAILY_DAYS)
    counters.redis.set(marker, LAYOUT)
    return moved


def layout_marker(keys: KeySpace) -> str:
    """The key holding the layout Redis was last upgraded to (LAYOUT once `upgrade` finished)."""
    return keys.internal("layout")


def move_daily_totals(counters: CounterStore, day: date) -> int:
    """Add every old per-day total key of the last TOTAL_DAYS into its rule's hash; the number moved."""
    prefix = counters.keys.prefix
    oldest = day_number(day) - TOTAL_DAYS + 1
    script = counters.redis.register_script(MOVE_DAILY_TOTAL)
    moved = 0
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "{*}:[ts]:*"
    for raw in counters.redis.scan_iter(match=pattern, count=1000):
        key = raw.decode(errors="replace")
        old = OLD_DAILY_TOTAL.match(key[len(prefix) :])
        if old is None:
            continue
        field = _day_of(old["stamp"])
        if field is not None and field >= oldest:  # older ones expire by themselves: past the chart
            moved += script(keys=[key, f"{prefix}{old['base']}:days"], args=[field, "h" if old["kind"] == "t" else "f"])
    return moved


def _day_of(stamp: str) -> int | None:
    """The day number of a `YYYYMMDD` stamp, or None when it is no date."""
    try:
        number: int = day_number(datetime.strptime(stamp, "%Y%m%d").date())
    except ValueError:
        return None
    return number
