"""Write-behind: tracked events are written by a background thread, so a request never waits on Redis.

An accepted call is first appended to this process's journal (journal.py): one
`write()`, after which the event survives the process's death. Then the thread
waits LINGER (50 ms) after an event arrives and writes whatever piled up
meanwhile (up to MAX_BATCH events) in one round trip, like Kafka's `linger.ms`. Before a batch goes to
Redis its writer and number are journaled, so a batch in flight when the
process dies is taken over by another and still counted once.

A batch neither Redis nor the spool could take stays in the journal and is
tried again every `retry_after` seconds; so does one whose writer and number
the journal could not note (see journal.py: the disk would have to be broken,
not just full). `flush` cuts the wait short and
returns once everything queued is written; the process flushes at exit. A full
queue, or a journal that cannot be written, makes callers write themselves.
"""

import atexit
import itertools
import logging
import os
import threading
import time
from collections import deque
from operator import itemgetter

log = logging.getLogger(__name__)

MAX_QUEUED = 50_000
# Planning a batch holds the GIL (about 4 µs an event): 200 events keep request threads waiting at most
# about a millisecond, where 1,000 made the batched API's p99 28 ms. Redis takes more round trips, each cheap.
MAX_BATCH = 200
LINGER = 0.05  # seconds
RETRY_AFTER = 1.0  # seconds


class BackgroundWriter:
    def __init__(
        self,
        write,
        next_batch,
        journal,
        max_queued=MAX_QUEUED,
        max_batch=MAX_BATCH,
        linger=LINGER,
        retry_after=RETRY_AFTER,
    ):
        """`write(events, day, batch, caller_keeps=False)` stores events as batch (writer, number), or as its
        own when None; True once they are in Redis or the spool. `next_batch()` numbers a batch."""
        self._write = write
        self._next_batch = next_batch
        self.journal = journal
        self.journal_error = None  # why the journal could not be written last time, until it could again
        self._linger = linger
        self._retry_after = retry_after
        self._max_queued = max_queued
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._accepting = threading.Lock()  # one caller at a time: journal order is queue order
        self._hurry = threading.Event()  # set while a flush waits: write at once, do not linger
        self._retry_now = threading.Event()  # set by a flush: a batch waiting out `retry_after` is tried at once
        self._flushes = 0
        # Accepted calls waiting, as (number of the first event, day, events): one entry a call, not an
        # event, so a batch of 50 costs one append and one pop. A deque and an event rather than a
        # queue.Queue, whose put, get and task_done take a lock each.
        self._waiting = deque()
        self._arrived = threading.Event()
        self._unfinished = 0  # accepted and not yet written (under _lock)
        self._pid = None  # the thread is started lazily, and again in a forked worker
        atexit.register(self._at_exit)

    def submit(self, events, day, caller_keeps=False):
        """Accept events: True once they survive this process's death (journaled, else written here and now).

        `caller_keeps`: events written here and now that nothing could take are not counted lost (see `record`)."""
        self._ensure_thread()
        with self._accepting:
            if self._unfinished + len(events) <= self._max_queued:
                try:
                    first = self.journal.accepted(day, events)
                except OSError as error:
                    self._journal_failed(error)
                else:
                    self.journal_error = None
                    with self._lock:
                        self._unfinished += len(events)
                    self._waiting.append((first, day, list(events)))
                    self._arrived.set()
                    return True
        return self._write(events, day, None, caller_keeps)

    def flush(self, timeout=10.0):
        """Wait until every submitted event is written; False if `timeout` ran out first."""
        if self._pid != os.getpid():
            return True  # nothing was submitted in this process
        deadline = time.monotonic() + timeout
        with self._lock:
            self._flushes += 1
            self._hurry.set()
            self._retry_now.set()
        try:
            while self._unfinished:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    return False
                time.sleep(0.001)
            return True
        finally:
            with self._lock:
                self._flushes -= 1
                if not self._flushes:
                    self._hurry.clear()

    def _at_exit(self):
        if self.flush():
            self.journal.finish()

    def _journal_failed(self, error):
        if self.journal_error is None:
            log.error(
                "Internal events journal cannot be written (%s): events are written before the call "
                "returns until it can",
                error,
            )
        self.journal_error = f"{type(error).__name__}: {error}"

    def _ensure_thread(self):
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                # A forked child starts empty: what its parent queued is in the parent's journal.
                self._waiting, self._arrived, self._unfinished = deque(), threading.Event(), 0
                self._thread = threading.Thread(target=self._run, name="internal-events-writer", daemon=True)
                self._thread.start()
                self._pid = os.getpid()

    def _run(self):
        waiting, arrived = self._waiting, self._arrived
        while True:
            arrived.wait()
            if self._unfinished < self._max_batch:  # all of it waits: one wait, not a wake-up per call
                self._hurry.wait(self._linger)
            arrived.clear()  # before taking: a call appended from now on sets it again
            taken = _take(waiting, self._max_batch)
            count = sum(len(events) for _, _, events in taken)
            if waiting:
                arrived.set()
            try:
                for day, same_day in itertools.groupby(taken, key=itemgetter(1)):
                    calls = [*same_day]
                    last_first, _, last_events = calls[-1]
                    events = [*itertools.chain.from_iterable(events for _, _, events in calls)]
                    self._store(calls[0][0], last_first + len(last_events) - 1, day, events)
            except Exception:  # a bug here must not stop every later write
                log.exception("Writing %d internal event(s) failed", count)
            finally:
                with self._lock:
                    self._unfinished -= count
            time.sleep(0)  # let request threads waiting for the GIL run before the next batch is planned

    def _store(self, first, last, day, events):
        """Write one day's events (numbered first..last) as one numbered batch, until Redis or the spool has
        them; then journal it."""
        writer, number = self._next_batch()
        while True:
            try:
                self.journal.writing(writer, number, day, first, last)
                break
            except OSError as error:  # written unjournaled, a crash could have the takeover count it again
                self._journal_failed(error)
                self._wait_to_retry()
        while not self._write(events, day, (writer, number)):
            self._wait_to_retry()
        try:
            self.journal.done(last)
        except OSError as error:
            self._journal_failed(error)

    def _wait_to_retry(self):
        """`retry_after` seconds, or until a flush asks for another try at once."""
        self._retry_now.wait(self._retry_after)
        self._retry_now.clear()


def _take(waiting, limit):
    """The oldest calls waiting, up to `limit` events: a call larger than what is left of it is split."""
    taken, room = [], limit
    while waiting and room:
        first, day, events = waiting[0]
        if len(events) > room:  # only this thread touches the left end; callers append on the right
            waiting[0] = (first + room, day, events[room:])
            events = events[:room]
        else:
            waiting.popleft()
        taken.append((first, day, events))
        room -= len(events)
    return taken
