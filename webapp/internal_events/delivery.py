"""Getting prepared events into Redis whatever Redis is doing: write now, or spool them and replay later.

While Redis is unreachable, events are spooled (a few milliseconds) instead of
waiting on it: after a failure, writes go straight to the spool for
`retry_after` seconds. A background thread in each process replays the spool
once Redis answers. Batches are numbered per writer and Redis applies a number
once (see counters.py): a batch in flight when Redis went down keeps its writer
and number in the spool and its writer retires, so whatever Redis did with it,
the replay counts it exactly once.
"""

import logging
import os
import secrets
import sqlite3
import threading
import time

from redis.exceptions import (
    ClusterDownError,
    DataError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)

log = logging.getLogger(__name__)

# Anything the Redis client raises: the server's answers and the cluster client's own complaints.
REDIS_FAILURES = (RedisError, RedisClusterException)
# Error answers that mean "not now": a replica, a failover, a full server, a long script.
ANSWERS_MEANING_LATER = (ReadOnlyError, TryAgainError, ClusterDownError, OutOfMemoryError)
RETRY_AFTER_SECONDS = 1.0
REPLAY_INTERVAL_SECONDS = 5.0
REPLAY_CHUNK = 200  # batches per Redis round trip


class CounterDelivery:
    def __init__(
        self, counters, spool, definitions, retry_after=RETRY_AFTER_SECONDS, replay_interval=REPLAY_INTERVAL_SECONDS
    ):
        """`definitions` returns the definitions in use, for replaying batches."""
        self.counters = counters
        self.spool = spool
        self.definitions = definitions
        self.retry_after = retry_after
        self.replay_interval = replay_interval
        self.last_error = None
        # Events neither counted nor spooled by this process: Redis answered their writes with an error
        # (a bug to look at), or the spool file could not be written.
        self.lost = 0
        self._unavailable_until = 0.0
        self._may_have_spool = True  # another process, or an earlier run, may have left batches
        # Writers not writing right now, with their last batch number: a thread borrows one for each write,
        # so a process has as many writers (and Redis markers) as it has concurrent writes, not threads.
        self._idle_writers, self._writers_pid, self._writers_lock = [], None, threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._replayer_pid = None
        self._replayer_lock = threading.Lock()

    def write(self, definitions, events, day):
        """Count `events` on `day` in Redis, or spool them. Never raises for an unavailable Redis."""
        if not events:
            return
        self._start_replayer()
        if time.monotonic() < self._unavailable_until:
            self._spool(_new_writer(), 1, day, events)
            return
        writer, number = self._borrow_writer()
        try:
            self.counters.write(self._write_batch(definitions, events, day), writer, number)
        except REDIS_FAILURES as error:
            if not unavailable(error):
                self._return_writer(writer, number)
                self.lost += len(events)
                log.exception("Redis refused %d event(s); they are not counted", len(events))
                return
            # Redis may have applied the batch before the failure: the writer's number decides at replay.
            # The writer is not returned: it never writes again, so its marker stays meaningful.
            self._unavailable_until = time.monotonic() + self.retry_after
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("Redis unavailable (%s): spooling %d event(s)", error, len(events))
            self._spool(writer, number, day, events)
            return
        self._return_writer(writer, number)
        self.last_error = None
        if self._may_have_spool:
            self._wake.set()

    def replay(self):
        """Write spooled batches to Redis, oldest first; return how many events were replayed.

        One process replays at a time; others return 0. Raises the RedisError that stopped it.
        """
        replayed = 0
        with self.spool.replay_lock() as ours:
            if not ours:
                return 0
            while batches := self.spool.oldest(REPLAY_CHUNK):
                definitions = self.definitions()
                try:
                    markers = self.counters.write_many(
                        [(self._write_batch(definitions, b.events, b.day), b.writer, b.number) for b in batches]
                    )
                except REDIS_FAILURES as error:
                    self.last_error = f"{type(error).__name__}: {error}"
                    raise
                # A crash here leaves the batches spooled: their markers make the next replay skip them.
                self.spool.remove([batch.id for batch in batches])
                replayed += sum(len(batch.events) for batch in batches)
                self._forget(markers)
            self._may_have_spool = False
        if replayed:
            self._unavailable_until = 0.0
            self.last_error = None
            log.info("Replayed %d spooled event(s) into Redis", replayed)
        return replayed

    def status(self):
        return {
            **self.spool.counts(),
            "limit": self.spool.limit,
            "path": str(self.spool.path),
            "last_error": self.last_error,
            "lost_in_this_process": self.lost,
        }

    def close(self):
        self._stop.set()
        self._wake.set()

    # -- helpers -------------------------------------------------------------------------------

    def _spool(self, writer, number, day, events):
        self._may_have_spool = True
        try:
            kept = self.spool.append(writer, number, day, events)
        except sqlite3.Error:
            self.lost += len(events)
            log.exception("Internal events spool %s cannot be written: %d event(s) lost", self.spool.path, len(events))
            return
        if not kept:
            log.error("Internal events spool full (%d events): dropped %d event(s)", self.spool.limit, len(events))

    def _write_batch(self, definitions, events, day):
        write_batch = self.counters.write_batch(definitions)
        for event in events:
            write_batch.add(definitions.rules_for(event.name), event, day)
        return write_batch

    def _borrow_writer(self):
        """An idle writer and its next batch number; a new writer when all are busy (or in a forked worker)."""
        with self._writers_lock:
            if self._writers_pid != os.getpid():
                self._idle_writers, self._writers_pid = [], os.getpid()
            writer, number = self._idle_writers.pop() if self._idle_writers else (_new_writer(), 0)
        return writer, number + 1

    def _return_writer(self, writer, number):
        with self._writers_lock:
            if self._writers_pid == os.getpid():
                self._idle_writers.append((writer, number))

    def _forget(self, markers):
        """Markers of replayed batches are never needed again; left alone they would expire anyway."""
        try:
            pipe = self.counters.pipeline()
            for marker in markers:
                pipe.delete(marker)
            pipe.execute()
        except REDIS_FAILURES:
            pass

    def _start_replayer(self):
        if self._replayer_pid == os.getpid():
            return
        with self._replayer_lock:
            if self._replayer_pid != os.getpid():
                self._replayer_pid = os.getpid()
                threading.Thread(target=self._replay_forever, name="internal-events-replay", daemon=True).start()

    def _replay_forever(self):
        while not self._stop.is_set():
            self._wake.wait(self.replay_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.replay()
            except Exception as error:  # the replay thread must outlive any surprise
                if isinstance(error, REDIS_FAILURES) and unavailable(error):
                    log.info("Spool not replayed yet, Redis still unavailable: %s", error)
                else:
                    log.exception("Replaying the internal events spool failed")


def unavailable(error):
    """Whether a Redis failure is worth spooling for: anything but an answer refusing these very writes.

    Unreachable, timed out, a stranger answering on the port (protocol error),
    a cluster without a node for the slot, or an answer meaning "later".
    """
    if isinstance(error, ANSWERS_MEANING_LATER) or str(error).startswith("BUSY"):
        return True
    return not isinstance(error, (ResponseError, DataError))


def _new_writer():
    return secrets.token_hex(8)
