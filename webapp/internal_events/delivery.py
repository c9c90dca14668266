"""Getting prepared events into Redis whatever Redis is doing: write now, or spool them and replay later.

While Redis is unreachable, events are spooled (a few milliseconds) instead of
waiting on it: after a failure, writes go straight to the spool for
`retry_after` seconds. A background thread in each process replays the spool
once Redis answers. Batches are numbered per writer and Redis applies a number
once (see counters.py): a batch in flight when Redis went down keeps its writer
and number in the spool and its writer retires, so whatever Redis did with it,
the replay counts it exactly once. The same thread takes over the journals of
dead processes (journal.py) into the spool (and hands their batches to
`taken_over`, for Snowplow), and moves batches Redis refuses
to the spool's quarantine instead of retrying them for ever.

Events lost for good (neither Redis nor the spool could take them, outside a
journal) are counted in Redis, where every process and `status` see them; a
process keeps the count until Redis answers.
"""

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import Counter

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

from .journal import unfinished
from .spool import SpooledBatch

log = logging.getLogger(__name__)

# Anything the Redis client raises: the server's answers and the cluster client's own complaints.
REDIS_FAILURES = (RedisError, RedisClusterException)
# Error answers that mean "not now": a replica, a failover, a full server, a long script.
ANSWERS_MEANING_LATER = (ReadOnlyError, TryAgainError, ClusterDownError, OutOfMemoryError)
RETRY_AFTER_SECONDS = 1.0
REPLAY_INTERVAL_SECONDS = 5.0
REPLAY_CHUNK = 200  # batches per Redis round trip
MAX_REPLAY_ATTEMPTS = 3  # replays a batch may see die (a crash, not an error) before it is quarantined


class CounterDelivery:
    def __init__(
        self,
        counters,
        spool,
        definitions,
        journal=None,
        retry_after=RETRY_AFTER_SECONDS,
        replay_interval=REPLAY_INTERVAL_SECONDS,
    ):
        """`definitions` returns the definitions in use, for replaying batches; `journal` finds dead processes'."""
        self.counters = counters
        self.spool = spool
        self.journal = journal
        # Called with a dead process's unfinished batches once they are spooled, before its journal goes:
        # the tracker queues their Snowplow copies.
        self.taken_over = None
        self.definitions = definitions
        self.retry_after = retry_after
        self.replay_interval = replay_interval
        self.last_error = None
        self._unrecorded_losses = Counter()  # reason -> events, until Redis takes the count
        self._losses_lock = threading.Lock()
        self._unavailable_until = 0.0
        self._refusing_until = 0.0
        self.clock = time.monotonic  # the cool-downs' clock; tests move it instead of waiting them out
        self._may_have_spool = True  # another process, or an earlier run, may have left batches
        # Writers not writing right now, with their last batch number: a thread borrows one for each write,
        # so a process has as many writers (and Redis markers) as it has concurrent writes, not threads.
        self._idle_writers, self._writers_pid, self._writers_lock = [], None, threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_replay_failure = None  # logged once in full; its repeats are counted by `status`, not logged
        self._replayer_pid = None
        self._replayer_lock = threading.Lock()

    def write(self, definitions, events, day, batch=None, caller_keeps=False):
        """Count `events` on `day` in Redis, or spool them; True when stored in either. Never raises for Redis.

        `batch` (writer, number) is the numbered batch the events were journaled as, else a new one.
        Events neither could take are lost and counted, unless journaled or the `caller_keeps` them
        (the API answers 503 and its client sends them again).
        """
        if not events:
            return True
        caller_keeps = caller_keeps or batch is not None
        self._start_replayer()
        if self.clock() < self._unavailable_until:
            if batch is None:
                return self._spool(_new_writer(), 1, day, events, caller_keeps)
            return self._spool(*batch, day, events, caller_keeps)  # its writer is not returned: retired
        writer, number = batch or self._borrow_writer()
        try:
            self.counters.write(self._write_batch(definitions, events, day), writer, number)
        except REDIS_FAILURES as error:
            if not unavailable(error):
                self._return_writer(writer, number)
                return self._quarantine(SpooledBatch(None, writer, number, day, events), error, caller_keeps)
            # Redis may have applied the batch before the failure: the writer's number decides at replay.
            # The writer is not returned: it never writes again, so its marker stays meaningful.
            self._unavailable_until = self.clock() + self.retry_after
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("Redis unavailable (%s): spooling %d event(s)", error, len(events))
            return self._spool(writer, number, day, events, caller_keeps)
        self._return_writer(writer, number)
        self.last_error = None
        if self._may_have_spool:
            self._wake.set()
        return True

    def next_batch(self):
        """(writer, number) for a batch numbered before it is written (see writer.py); `write` returns the writer."""
        return self._borrow_writer()

    def accepting(self):
        """False for a while after neither Redis nor the spool could store a batch: the API answers 503."""
        return self.clock() >= self._refusing_until

    def replay(self):
        """Write spooled batches to Redis, oldest first; return how many events were replayed.

        Journals of dead processes are taken into the spool first. One process
        replays at a time; others return 0. Raises the RedisError that stopped it.
        """
        self.take_over_journals()
        replayed = 0
        with self.spool.replay_lock() as ours:
            if not ours:
                return 0
            while batches := self.spool.oldest(REPLAY_CHUNK):
                if batches[0].attempts:  # a replay died with it: alone now, and quarantined if it kills again
                    batches = batches[:1]
                    if batches[0].attempts >= MAX_REPLAY_ATTEMPTS:
                        self._quarantine(batches[0], f"{MAX_REPLAY_ATTEMPTS} replays died with it", False)
                        continue
                definitions = self.definitions()
                ids = [batch.id for batch in batches]
                self.spool.attempting(ids)
                try:
                    self.counters.write_many(
                        [(self._write_batch(definitions, b.events, b.day), b.writer, b.number) for b in batches]
                    )
                except REDIS_FAILURES as error:
                    self.spool.attempting(ids, -1)
                    self.last_error = f"{type(error).__name__}: {error}"
                    if unavailable(error):
                        raise
                    batches = self._apply_one_by_one(definitions, batches)
                # A crash here leaves the batches spooled: their markers make the next replay skip them. The
                # markers are kept (they expire): a dead process's journal may bring the same batch again.
                self.spool.remove([batch.id for batch in batches])
                replayed += sum(len(batch.events) for batch in batches)
            self._may_have_spool = False
        if replayed:
            self._unavailable_until = 0.0
            self.last_error = None
            log.info("Replayed %d spooled event(s) into Redis", replayed)
        return replayed

    def take_over_journals(self):
        """Move what dead processes' journals had not finished into the spool; the journals they were then go.

        A journal whose batches do not fit in the spool is kept for the next try.
        """
        if self.journal is None:
            return 0
        taken = 0
        for owner, paths in self.journal.orphans():
            batches, damaged = unfinished(paths, owner)
            if damaged:
                self._lose("journal_lines_unreadable", damaged)
                log.error("Journal %s: %d line(s) could not be read", paths[0].name, damaged)
            if batches and not self.spool.append_all(batches):
                log.error("Spool full: the journal of a dead process (%d batches) waits for room", len(batches))
                continue
            if batches and self.taken_over is not None:
                self.taken_over(batches)
            for path in paths:
                path.unlink(missing_ok=True)
            taken += sum(len(batch[3]) for batch in batches)
        if taken:
            self._may_have_spool = True
            log.warning("Took over %d event(s) from the journals of processes that died", taken)
        return taken

    def losses(self):
        """Events lost for good, by reason: the shared count in Redis plus what this process has not recorded yet."""
        self._record_losses()
        recorded = {}
        try:
            recorded = {k.decode(): int(v) for k, v in self.counters.redis.hgetall(self._losses_key()).items()}
        except REDIS_FAILURES:
            pass
        with self._losses_lock:
            return dict(Counter(recorded) + self._unrecorded_losses)

    def status(self):
        return {
            **self.spool.counts(),
            "limit": self.spool.limit,
            "path": str(self.spool.path),
            "last_error": self.last_error,
            "lost": self.losses(),
            "accepting": self.accepting(),
        }

    def close(self):
        self._stop.set()
        self._wake.set()

    # -- helpers -------------------------------------------------------------------------------

    def _spool(self, writer, number, day, events, caller_keeps):
        """Keep a batch in the spool; False when it could not. Lost then, and counted, unless the `caller_keeps` it."""
        self._may_have_spool = True
        fate = "kept by the caller" if caller_keeps else "lost"
        try:
            kept = self.spool.append(writer, number, day, events, count_dropped=not caller_keeps)
        except sqlite3.Error as error:
            kept = False
            log.error(
                "Internal events spool %s cannot be written (%s): %d event(s) %s",
                self.spool.path,
                error,
                len(events),
                fate,
            )
            if not caller_keeps:
                self._lose("spool_unwritable", len(events))
        else:
            if not kept:
                log.error(
                    "Internal events spool full (%d events): %d event(s) %s",
                    self.spool.limit,
                    len(events),
                    "kept by the caller" if caller_keeps else "dropped",
                )
        if not kept:
            self._refusing_until = self.clock() + self.retry_after
        return kept

    def _quarantine(self, batch, error, caller_keeps):
        """Keep a batch Redis refuses (or that crashed replays) where a person can see it; False when even
        that failed (see _spool)."""
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        log.error("A batch of %d event(s) cannot be applied (%s): quarantined in the spool", len(batch.events), reason)
        try:
            self.spool.quarantine(batch, reason)
        except sqlite3.Error:
            if caller_keeps:
                return False
            self._lose("refused_by_redis", len(batch.events))
        return True

    def _apply_one_by_one(self, definitions, batches):
        """After Redis refused a chunk: apply its batches alone and quarantine the ones it refuses.

        Returns the batches applied; raises if Redis becomes unavailable.
        """
        applied = []
        for batch in batches:
            try:
                self.counters.write(self._write_batch(definitions, batch.events, batch.day), batch.writer, batch.number)
                applied.append(batch)
            except REDIS_FAILURES as error:
                if unavailable(error):
                    raise
                self._quarantine(batch, error, caller_keeps=False)
        return applied

    def _lose(self, reason, count):
        with self._losses_lock:
            self._unrecorded_losses[reason] += count
        if self.clock() >= self._unavailable_until:
            self._record_losses()

    def _record_losses(self):
        """Move this process's loss counts into Redis, where every process sees them."""
        with self._losses_lock:
            losses, self._unrecorded_losses = self._unrecorded_losses, Counter()
        if not losses:
            return
        try:
            pipe = self.counters.pipeline()
            for reason, count in losses.items():
                pipe.hincrby(self._losses_key(), reason, count)
            pipe.execute()
        except REDIS_FAILURES:
            with self._losses_lock:
                self._unrecorded_losses += losses

    def _losses_key(self):
        return self.counters.keys.internal("losses")

    def _write_batch(self, definitions, events, day):
        batch = self.counters.write_batch(definitions)
        for event in events:
            batch.add(definitions.rules_for(event.name), event, day)
        return batch

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
                self._record_losses()
                self.replay()
            except Exception as error:  # the replay thread must outlive any surprise
                if isinstance(error, REDIS_FAILURES) and unavailable(error):
                    log.info("Spool not replayed yet, Redis still unavailable: %s", error)
                elif repr(error) != self._last_replay_failure:
                    self._last_replay_failure = repr(error)
                    log.exception(
                        "Replaying the internal events spool failed (logged again only when the failure changes)"
                    )
            else:
                self._last_replay_failure = None


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
