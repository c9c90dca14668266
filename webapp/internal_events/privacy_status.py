"""The privacy switches as `internal-events status` and the admin dashboard show them."""

import sqlite3
from typing import Any

from .delivery import REDIS_FAILURES
from .tracker import WITHHELD_KEY, Tracker


def privacy_status(tracker: Tracker) -> dict[str, Any]:
    """JSON-ready: each switch and who set it, the privacy-signal policy, opt-outs, events withheld in doubt."""
    privacy, counters = tracker.privacy, tracker.counters
    try:
        opted_out: int | str = privacy.opt_outs.count()
    except sqlite3.Error as error:
        opted_out = f"unreadable: {error}"
    try:
        withheld: int | None = int(counters.redis.get(counters.keys.internal(WITHHELD_KEY)) or 0)
    except REDIS_FAILURES:
        withheld = None
    return {
        "switches": privacy.switches.states(),
        "snowplow_collector_configured": tracker.snowplow is not None,
        "privacy_signals_honoured": privacy.policy,
        "users_opted_out": opted_out,
        "snowplow_withheld_opt_outs_unreadable": withheld,
    }
