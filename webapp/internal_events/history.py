"""The daily pass: every unique metric's complete chart weeks are counted and kept, its frame windows built.

Daily HyperLogLogs live DAILY_DAYS, so a week must be counted within
COMPUTABLE_WEEKS_DAYS of its end. Reading a chart keeps its weeks too, but a chart nobody opened
for that long would lose them: the first write of each UTC day therefore runs
this pass, in the write-behind thread in production (in the caller without
write-behind). It also builds the day's frame windows (see
counters.py), so the first service ping of a day does not pay for them. One
process a day runs it (a key taken with SET NX); the others skip it.
"""

import logging
import os
import threading

from .windows import day_stamp

log = logging.getLogger(__name__)

LOCK_SECONDS = 2 * 86400


class WeekKeeper:
    def __init__(self, counters):
        self.counters = counters
        self._day = None
        self._lock = threading.Lock()

    def day_seen(self, definitions, day):
        """Called with every write: a date comparison, and the day's pass on the first write of a day."""
        if day == self._day:
            return
        with self._lock:
            if day == self._day:
                return
            self._day = day
        self.run(definitions, day)  # in the caller: the write-behind thread in production

    def run(self, definitions, day):
        """The pass of `day`, unless a process already ran it."""
        counters = self.counters
        try:
            lock = counters.keys.internal(f"weeks-kept:{day_stamp(day)}")
            if counters.redis.set(lock, os.getpid(), nx=True, ex=LOCK_SECONDS):
                rule_sets = definitions.unique_rule_sets_in_use()
                counters.keep_weeks(rule_sets, day)
                counters.build_windows(rule_sets, day)
        except Exception:  # Redis down: tomorrow's pass, or a read of the chart, counts the weeks still countable
            log.exception("The daily pass of %s (chart weeks, frame windows) failed", day)
