"""Write-behind: tracked events are written by a background thread, so a request never waits on Redis.

The thread waits LINGER (50 ms) after an event arrives before writing, and
writes whatever piled up meanwhile in one round trip (group commit, like
Kafka's `linger.ms`): at a few hundred requests a second per worker that is one
Redis call per dozen events instead of one per event, and counts are at most
LINGER late. `flush` cuts the wait short and returns once everything queued is
written; the process flushes at exit. A full queue makes callers write
themselves instead of dropping events.
"""

import atexit
import logging
import os
import queue
import threading
import time

log = logging.getLogger(__name__)

MAX_QUEUED = 50_000
MAX_BATCH = 1_000
LINGER = 0.05  # seconds


class BackgroundWriter:
    def __init__(self, write, max_queued=MAX_QUEUED, max_batch=MAX_BATCH, linger=LINGER):
        self._write = write
        self._linger = linger
        self._queue = queue.Queue(max_queued)
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._hurry = threading.Event()  # set while a flush waits: write at once, do not linger
        self._flushes = 0
        self._pid = None  # the thread is started lazily, and again in a forked worker
        atexit.register(self.flush)

    def submit(self, events):
        self._ensure_thread()
        for event in events:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self._write([event])

    def flush(self, timeout=10.0):
        """Wait until every submitted event is written; False if `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._flushes += 1
            self._hurry.set()
        try:
            while self._queue.unfinished_tasks:
                if time.monotonic() > deadline or not self._thread_alive():
                    return False
                time.sleep(0.001)
            return True
        finally:
            with self._lock:
                self._flushes -= 1
                if not self._flushes:
                    self._hurry.clear()

    def _thread_alive(self):
        return self._pid == os.getpid() and self._thread.is_alive()

    def _ensure_thread(self):
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._thread = threading.Thread(target=self._run, name="internal-events-writer", daemon=True)
                self._thread.start()
                self._pid = os.getpid()

    def _run(self):
        while True:
            batch = [self._queue.get()]
            if self._queue.qsize() < self._max_batch:  # one wait, not a wake-up per arriving event
                self._hurry.wait(self._linger)
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:  # a bug here must not stop every later write
                log.exception("Writing %d internal event(s) failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
