"""Snowplow events waiting for their collector, on disk, shared by every process of one app instance.

An event is in the outbox before `track_event` returns or the API answers, so
no process death loses it (SQLite in WAL mode: a commit is in the file's log
once `write()` returns; a power cut may lose the last ones). Whichever process
holds the send lock posts the oldest events, so what a dead or exited process
left behind is sent by the next one. Events leave only when the collector took
them, or refused them for good (counted as rejected).

An event waits as a compact record (snowplow_record.py), encoded once; the
courier builds its tracker payload when it posts. Rows an earlier version wrote
are tracker payloads, posted as they are.

One file per collector URL: events are only ever sent where they were meant to go.
The limit counts events; what does not fit is dropped and counted. Totals are
kept in the file, so `internal-events status` sees every process's figures.

Events written by a numbered batch (write-behind) arrive with the batch's writer
and number, noted in the same transaction. When a dead process's journal is
taken over, its batches the outbox already holds are not queued again: each
event is queued once. (Posting is at least once: a process that dies between a
POST and removing its events has them posted again, and the collector drops
event ids it already stored.)
"""

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from .counters import MARKER_TTL_SECONDS
from .shared_files import exclusive_lock, immediate_transaction, thread_connection

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    queued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS totals (
    name TEXT PRIMARY KEY,
    value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (  -- each writer's last batch whose events were queued
    writer TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    noted_at REAL NOT NULL
);
"""
BATCHES_KEPT_SECONDS = MARKER_TTL_SECONDS  # as long as Redis remembers a batch: a takeover comes long before
# delivered: the collector took them; dropped: the outbox was full; rejected: the collector refused them for good;
# failed_posts: POSTs that failed and will be retried; failures_in_row and retry_at: the shared back-off.
TOTALS = ("delivered", "dropped", "rejected", "failed_posts", "failures_in_row", "retry_at")


def outbox_file(folder, collector_url):
    """The outbox of one collector: a name no other URL shares."""
    digest = hashlib.sha256(collector_url.encode()).hexdigest()[:16]
    return Path(folder) / f"snowplow-{digest}.sqlite3"


class Outbox:
    def __init__(self, path, limit):
        self.path = Path(path)
        self.limit = limit
        self.error = None  # why the file could not be opened: the app starts anyway, and says so
        self._local = threading.local()
        try:
            self._open()
        except (sqlite3.Error, OSError):
            log.exception("Snowplow outbox %s cannot be opened: events cannot wait for the collector", self.path)

    def append(self, records, batch=None):
        """Keep events (records: dicts that JSON encodes) until sent; how many fitted (the rest are dropped).

        `batch`: the (writer, number) whose events these are (all that may be sent of it), noted with them.
        """
        now = time.time()
        rows = [(json.dumps(record), now) for record in records]
        with self._transaction() as db:
            if batch is not None:
                db.execute(
                    "INSERT INTO batches VALUES (?, ?, ?) ON CONFLICT (writer) DO UPDATE"
                    " SET number = max(number, excluded.number), noted_at = excluded.noted_at",
                    (*batch, now),
                )
            room = self.limit - self._pending_at_most(db)
            if room < len(rows):
                room = self.limit - db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            kept = rows[: max(room, 0)]
            db.executemany("INSERT INTO events (payload, queued_at) VALUES (?, ?)", kept)
            if len(kept) < len(rows):
                self._add(db, "dropped", len(rows) - len(kept))
            return len(kept)

    def holds(self, writer, number):
        """Whether the events of batch `number` of `writer` were queued (and perhaps sent) already."""
        row = self._connection().execute("SELECT number FROM batches WHERE writer = ?", (writer,)).fetchone()
        return row is not None and row[0] >= number

    def oldest(self, count):
        """[(id, record as JSON text)] of the `count` events waiting longest: encoded once, when kept."""
        return self._connection().execute("SELECT id, payload FROM events ORDER BY id LIMIT ?", (count,)).fetchall()

    def delivered(self, ids):
        self._remove(ids, "delivered")

    def rejected(self, ids):
        self._remove(ids, "rejected")

    def failed(self, retry_at):
        """A POST failed: remember it and when the next attempt may be made (by any process)."""
        with self._transaction() as db:
            self._add(db, "failed_posts", 1)
            self._add(db, "failures_in_row", 1)
            db.execute("UPDATE totals SET value = ? WHERE name = 'retry_at'", (retry_at,))

    def succeeded(self):
        """The collector answers again: the back-off starts over."""
        with self._transaction() as db:
            db.execute("UPDATE totals SET value = 0 WHERE name IN ('failures_in_row', 'retry_at')")

    def forget(self, carries):
        """Delete the waiting events for which `carries(row)` (the row decoded) is true (a forgotten user's); how many."""
        with self._transaction() as db:
            ids = [id for id, stored in db.execute("SELECT id, payload FROM events") if carries(json.loads(stored))]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                db.execute(f"DELETE FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return len(ids)

    def totals(self):
        return {name: value for name, value in self._connection().execute("SELECT name, value FROM totals")}

    def counts(self):
        """Events waiting (and since when), and the outbox's lifetime totals, for every process to read."""
        db = self._connection()
        queued, oldest = db.execute("SELECT COUNT(*), MIN(queued_at) FROM events").fetchone()
        totals = self.totals()
        return {
            "queued": queued,
            "oldest_queued_at": oldest,
            "delivered": int(totals["delivered"]),
            "dropped": int(totals["dropped"]),
            "rejected": int(totals["rejected"]),
            "failed_posts": int(totals["failed_posts"]),
            "retry_at": totals["retry_at"] or None,
        }

    def send_lock(self, wait=0.0):
        """True for the one process (and thread) that may send now; False when another holds it past `wait` s."""
        return exclusive_lock(self.path.with_suffix(".lock"), wait)

    @staticmethod
    def _pending_at_most(db):
        """An upper bound on the events waiting, without counting them (ids only grow)."""
        # Two subqueries: SQLite reads one end of the index for each, but scans the table for MIN and MAX together.
        low, high = db.execute("SELECT (SELECT MIN(id) FROM events), (SELECT MAX(id) FROM events)").fetchone()
        return 0 if low is None else high - low + 1

    def _remove(self, ids, outcome):
        marks = ",".join("?" * len(ids))
        with self._transaction() as db:
            removed = db.execute(f"DELETE FROM events WHERE id IN ({marks})", ids).rowcount
            self._add(db, outcome, removed)

    @staticmethod
    def _add(db, name, amount):
        db.execute("UPDATE totals SET value = value + ? WHERE name = ?", (amount, name))

    def _open(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = thread_connection(self._local, self.path)
            db.executescript(SCHEMA)
            db.executemany("INSERT OR IGNORE INTO totals VALUES (?, 0)", [(name,) for name in TOTALS])
            db.execute("DELETE FROM batches WHERE noted_at < ?", (time.time() - BATCHES_KEPT_SECONDS,))
        except (sqlite3.Error, OSError) as error:
            self.error = f"{type(error).__name__}: {error}"
            raise
        self.error = None
        return db

    def _connection(self):
        """This thread's connection; while the file cannot be opened, every use tries again (and raises)."""
        return self._open() if self.error else thread_connection(self._local, self.path)

    def _transaction(self):
        return immediate_transaction(self._connection())


class SharedCount:
    """A count every process adds to and reads, kept in Redis: for losses of the disk, which cannot record them.

    While Redis cannot be reached either, this process keeps what it could not add, and says so in its log.
    """

    def __init__(self, redis, key, failures):
        self.redis, self.key, self.failures = redis, key, failures
        self._unrecorded = 0
        self._lock = threading.Lock()

    def add(self, amount):
        with self._lock:
            amount, self._unrecorded = amount + self._unrecorded, 0
            try:
                self.redis.incrby(self.key, amount)
            except self.failures:
                self._unrecorded = amount
                log.error("%d lost Snowplow event(s) not yet counted in Redis", amount)

    def value(self):
        """Every process's count (with this process's unrecorded part), or None while Redis cannot be read."""
        try:
            return int(self.redis.get(self.key) or 0) + self._unrecorded
        except self.failures:
            return None
