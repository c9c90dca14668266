"""A bounded on-disk spool for batches Redis could not take, shared by every process of one app instance.

SQLite in WAL mode: appends from several gunicorn workers queue on its write
lock, and a batch is in the file whole or not at all. A commit survives a
crashed process (synchronous=NORMAL); a power cut may lose the last ones.

The limit counts events. A batch that does not fit is dropped whole: the
newest events are the ones lost, so the spool keeps the start of an outage
and never rewrites what a replay may be reading. Dropped events are counted.

Batches are replayed only into the Redis and key prefix (`target`) they were
meant for, even when apps with different settings share one spool file.
"""

import fcntl
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from .model import TrackedEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    writer TEXT NOT NULL,
    number INTEGER NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL,
    events TEXT NOT NULL,
    spooled_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_target ON batches (target, id);
CREATE TABLE IF NOT EXISTS totals (
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (target, name)
);
"""
TOTALS = ("pending", "dropped", "replayed")


@dataclass(frozen=True)
class SpooledBatch:
    id: int
    writer: str
    number: int
    day: date
    events: list  # of TrackedEvent


class Spool:
    def __init__(self, path, limit, target):
        self.path = Path(path)
        self.limit = limit
        self.target = target
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self._connection()
        db.executescript(SCHEMA)
        db.executemany("INSERT OR IGNORE INTO totals VALUES (?, ?, 0)", [(target, name) for name in TOTALS])

    def append(self, writer, number, day, events):
        """Keep one batch for replay; False when the spool is full and the batch was dropped."""
        payload = json.dumps([asdict(event) for event in events])
        spooled_at = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction() as db:
            pending = db.execute("SELECT SUM(value) FROM totals WHERE name = 'pending'").fetchone()[0]
            if pending + len(events) > self.limit:
                self._add(db, "dropped", len(events))
                return False
            db.execute(
                "INSERT INTO batches (target, writer, number, day, size, events, spooled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.target, writer, number, day.isoformat(), len(events), payload, spooled_at),
            )
            self._add(db, "pending", len(events))
            return True

    def oldest(self, count):
        rows = (
            self._connection()
            .execute(
                "SELECT id, writer, number, day, events FROM batches WHERE target = ? ORDER BY id LIMIT ?",
                (self.target, count),
            )
            .fetchall()
        )
        return [
            SpooledBatch(
                id, writer, number, date.fromisoformat(day), [TrackedEvent(**event) for event in json.loads(events)]
            )
            for id, writer, number, day, events in rows
        ]

    def remove(self, ids):
        """Forget replayed batches (ids already gone are ignored: another replay removed them)."""
        marks = ",".join("?" * len(ids))
        with self._transaction() as db:
            size = db.execute(f"SELECT COALESCE(SUM(size), 0) FROM batches WHERE id IN ({marks})", ids).fetchone()[0]
            db.execute(f"DELETE FROM batches WHERE id IN ({marks})", ids)
            self._add(db, "pending", -size)
            self._add(db, "replayed", size)

    def forget_user(self, user_id):
        """Strip `user_id` from every spooled event of it; returns how many. Their totals still count at replay,
        their unique-user counts no longer can."""
        forgotten = 0
        with self._transaction() as db:
            for batch_id, events in db.execute("SELECT id, events FROM batches").fetchall():
                decoded = json.loads(events)
                theirs = [event for event in decoded if event.get("user_id") == user_id]
                for event in theirs:
                    event["user_id"] = None
                if theirs:
                    db.execute("UPDATE batches SET events = ? WHERE id = ?", (json.dumps(decoded), batch_id))
                    forgotten += len(theirs)
        return forgotten

    def counts(self):
        """This target's events pending, dropped for lack of room and replayed, over the spool's whole life."""
        db = self._connection()
        totals = dict(db.execute("SELECT name, value FROM totals WHERE target = ?", (self.target,)))
        totals["batches"] = db.execute("SELECT COUNT(*) FROM batches WHERE target = ?", (self.target,)).fetchone()[0]
        return totals

    @contextmanager
    def replay_lock(self):
        """True for the one process (and thread) allowed to replay now; the others get False at once."""
        with open(self.path.with_suffix(".lock"), "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _add(self, db, name, amount):
        db.execute("UPDATE totals SET value = value + ? WHERE target = ? AND name = ?", (amount, self.target, name))

    def _connection(self):
        """This thread's connection: kept open (closing the last one checkpoints the log, a few ms),
        never shared between threads, never inherited by a forked worker."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            local.db.execute("PRAGMA journal_mode=WAL")
            local.db.execute("PRAGMA synchronous=NORMAL")
            local.pid = os.getpid()
        return local.db

    @contextmanager
    def _transaction(self):
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
