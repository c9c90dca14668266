"""A per-user limit on events recorded through the API, shared by every worker through Redis.

Fixed windows: each user has one counter in Redis per window of `window`
seconds. A round trip for every request would cost more than a third of the
API's throughput, so each process takes a user's allowance in blocks (a
fiftieth of the limit, at most 1,000 events) and spends them locally. No user
records more than `limit` events in a window; one may be refused up to
(processes - 1) blocks early, while other processes still hold part of a block.

A request waits at most REDIS_WAIT for a block. A Redis that does not answer
by then (stalled, paused, overloaded) lets the request through, and the
process does not ask again for STALL_PAUSE seconds: requests never wait on a
stuck Redis, and the limit is not enforced while Redis cannot say. A late
answer still credits its block to the user.
"""

import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late

log = logging.getLogger(__name__)

BLOCKS_PER_LIMIT = 50
# A cap only matters from a limit of 50,000 a window, where 4 workers refuse at most 6% early; 100 made a
# high-volume client pay a Redis round trip every other batch of 50.
MAX_BLOCK = 1000
REDIS_WAIT = (
    0.2  # seconds: loopback Redis answers far sooner even on a busy machine; a stuck one costs this once a second
)
STALL_PAUSE = 1.0  # seconds


def block_size(limit):
    """Events a process takes from Redis at a time: a fiftieth of the limit, 1 to MAX_BLOCK."""
    return max(1, min(MAX_BLOCK, limit // BLOCKS_PER_LIMIT))


def seconds_left(now, window):
    """Whole seconds until the fixed window holding Unix time `now` ends; never 0, so a client does wait."""
    return max(1, math.ceil((int(now // window) + 1) * window - now))


class Allowance:
    """This process's unspent allowance per user, for the current window only. Pure bookkeeping."""

    def __init__(self):
        self._lock = threading.Lock()
        self._slot, self._left = None, {}

    def spend(self, slot, user_id, amount, taken=0):
        """Add what was `taken` from Redis to the user's allowance and spend `amount` of it: 0, or what is missing.

        A new window (`slot`) starts every user from nothing."""
        with self._lock:
            if slot != self._slot:
                self._slot, self._left = slot, {}
            left = self._left.get(user_id, 0) + taken
            if left >= amount:
                self._left[user_id] = left - amount
                return 0
            self._left[user_id] = left
            return amount - left


class RateLimit:
    def __init__(self, limit, window):
        self.limit, self.window = limit, window
        self.block = block_size(limit)
        self._lock = threading.Lock()
        self._allowance = Allowance()
        self._asking, self._asking_pid = None, None  # threads that ask Redis, started in each process
        self._stalled_until = 0.0

    def retry_after(self, redis, prefix, user_id, amount, now=None):
        """Spend `amount` of the user's allowance; seconds to wait when it is used up, else None.

        `limit` 0 turns the limit off. The Redis key carries the user as a cluster
        hash tag, so users spread over the nodes of a Redis Cluster.
        """
        if self.limit <= 0:
            return None
        now = time.time() if now is None else now
        slot = int(now // self.window)
        shortfall = self._allowance.spend(slot, user_id, amount)
        if not shortfall:
            return None
        taken = self._take_in_time(
            redis, f"{prefix}{{rate_limit:{user_id}}}:{slot}", max(self.block, shortfall), slot, user_id
        )
        if taken is None or not self._allowance.spend(slot, user_id, amount, taken):
            return None
        return seconds_left(now, self.window)

    def _take_in_time(self, redis, key, wanted, slot, user_id):
        """`_take`, or None when Redis has not answered within REDIS_WAIT (or did not lately): let it through."""
        if time.monotonic() < self._stalled_until:
            return None
        asked = self._askers().submit(self._take, redis, key, wanted)
        try:
            return asked.result(timeout=REDIS_WAIT)
        except Late:
            self._stalled_until = time.monotonic() + STALL_PAUSE
            log.warning("Rate limit not checked: Redis did not answer within %.0f ms", REDIS_WAIT * 1000)
            asked.add_done_callback(lambda late: self._credit(late, slot, user_id))
            return None

    def _askers(self):
        with self._lock:
            if self._asking_pid != os.getpid():  # a forked worker cannot use its parent's threads
                self._asking = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rate-limit")
                self._asking_pid = os.getpid()
            return self._asking

    def _credit(self, late, slot, user_id):
        """A block granted after its request went on: the user's next requests spend it."""
        if late.exception() is None:
            self._allowance.spend(slot, user_id, 0, late.result())

    def _take(self, redis, key, wanted):
        """Up to `wanted` events of the window's allowance; what went over the limit is not granted."""
        used = redis.incrby(key, wanted)
        if used == wanted:  # this took the window's first block: one command a round trip otherwise
            redis.expire(key, self.window + 1)
        return max(0, wanted - max(0, used - self.limit))
