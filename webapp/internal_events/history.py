"""The daily pass: every unique metric's complete frames counted and kept, the day's frame windows built.

Daily HyperLogLogs live DAILY_DAYS, so a complete 7d or 28d frame must be counted and kept while its
daily keys exist (`computable_days`: 23 days for a week, 2 for a 28-day frame). Reads keep what they
count too, but a frame nobody read in time would be lost: so each process has a background thread
that runs the pass at the start of every UTC day, and at the first write it sees on a new day (no
write or request waits for it); cron may run `flask internal-events daily-pass` as well. One process
a day runs it (a key taken with SET NX); the others skip it. It also builds the day's frame windows
(see counters.py), so the first service ping of a day does not pay for them, and upgrades what an
older release left in Redis (upgrade.py). Until it has run, reads are exact all the same: a read that
finds a window or a kept count missing counts it from the daily keys.
"""

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

from .counters import CounterStore
from .model import Definitions
from .upgrade import LAYOUT, layout_marker, upgrade
from .windows import day_stamp, seconds_until_end_of, today

log = logging.getLogger(__name__)

LOCK_SECONDS = 2 * 86400
MIDNIGHT_SPREAD_SECONDS = 60  # processes wake at random within this, so they do not race for the lock at once
# Our own generator: a background thread must not draw from, or disturb, the host app's global `random`.
_jitter = random.Random()


class DailyPass:
    def __init__(self, counters: CounterStore, definitions: Callable[[], Definitions]) -> None:
        """`definitions` returns the definitions in use (they may be edited while the process runs)."""
        self.counters = counters
        self.definitions = definitions
        self._day: date | None = None  # the newest day a write of this process was seen on
        self._finished: date | None = None  # the day of the last pass this process's thread finished (or skipped)
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None

    def day_seen(self, day: date) -> None:
        """Called with every write: a date comparison, and on the first write of a new day the pass, in the
        background thread. A late batch (a day before today) starts nothing."""
        if self._day is not None and day <= self._day:
            return
        with self._changed:
            if (self._day is not None and day <= self._day) or day < today() or self._stopped:
                return
            self._day = day
            if self._thread_pid != os.getpid():  # started on first use, so each forked worker has its own
                self._thread_pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="internal-events-daily-pass", daemon=True)
                self._thread.start()
            else:
                self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the pass of the newest day seen has finished in this process (or was another's); True if so."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._day is None or (self._finished is not None and self._finished >= self._day), timeout
            )

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread; a pass cut short is caught up by the next day's, or by reads."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self, definitions: Definitions, day: date) -> bool:
        """The pass of `day`, unless a process already ran it; True when this call ran it."""
        counters = self.counters
        lock = self._taken(day)
        if not counters.redis.set(lock, os.getpid(), nx=True, ex=LOCK_SECONDS):
            return False
        upgrade(counters, definitions, day)
        rule_sets = definitions.unique_rule_sets_in_use()
        counters.keep_frames(rule_sets, day)
        counters.build_windows(rule_sets, day)
        return True

    def status(self) -> dict[str, bool]:
        """Whether a process took today's and yesterday's pass, and whether an older release's keys are upgraded."""
        day = today()
        pipe = self.counters.pipeline()
        for back in (0, 1):
            pipe.exists(self._taken(day - timedelta(days=back)))
        pipe.get(layout_marker(self.counters.keys))
        ran_today, ran_yesterday, layout = pipe.execute()
        return {"today": bool(ran_today), "yesterday": bool(ran_yesterday), "upgraded": layout == LAYOUT.encode()}

    def _taken(self, day: date) -> str:
        """The key a process sets when it takes `day`'s pass: the lock, and the record that the pass ran."""
        return self.counters.keys.internal(f"daily-pass:{day_stamp(day)}")

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.clear()  # a day seen during the pass wakes the next round at once
            day = today()
            try:
                self.run(self.definitions(), day)
            except Exception:  # Redis down: tomorrow's pass, or a read, counts the frames still countable
                log.exception("The daily pass of %s (kept frame counts, frame windows) failed", day)
            with self._changed:
                self._finished = day
                self._changed.notify_all()
            pause = seconds_until_end_of(day, time.time()) + _jitter.uniform(1, MIDNIGHT_SPREAD_SECONDS)
            self._wake.wait(max(pause, 1))
