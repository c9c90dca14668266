"""A bounded on-disk spool for batches Redis could not take, shared by every process of one app instance.

SQLite in WAL mode: appends from several gunicorn workers queue on its write
lock, and a batch is in the file whole or not at all. A commit survives a
crashed process (synchronous=NORMAL); a power cut may lose the last ones.

The limit counts events. A batch that does not fit is dropped whole: the
newest events are the ones lost, so the spool keeps the start of an outage
and never rewrites what a replay may be reading. Dropped events are counted.

Batches are replayed only into the Redis and key prefix (`target`) they were
meant for, even when apps with different settings share one spool file.

A batch Redis refuses is moved to the `quarantine` table, kept for a person
to look at instead of failing every replay. A spool file that cannot be
opened never stops the app: `error` says why, and every use tries again. A
file deleted or replaced under a running process is noticed: the batches the
process can still read through its open connection are copied into the new file.
"""

import errno
import json
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from .model import TrackedEvent
from .shared_files import connect, exclusive_lock, immediate_transaction

log = logging.getLogger(__name__)

# The columns a spooled batch and a quarantined one share.
BATCH_TABLE = """
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    writer TEXT NOT NULL,
    number INTEGER NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL,
    events TEXT NOT NULL,"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS batches ({BATCH_TABLE}
    spooled_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0  -- replays begun and not finished: a replay that died with it
);
CREATE INDEX IF NOT EXISTS batches_by_target ON batches (target, id);
CREATE TABLE IF NOT EXISTS quarantine ({BATCH_TABLE}
    reason TEXT NOT NULL,
    quarantined_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS totals (
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (target, name)
);
"""
TOTALS = ("pending", "dropped", "replayed", "quarantined", "file_replaced")
BATCH_COLUMNS = "target, writer, number, day, size, events, spooled_at"
MIN_FREE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SpooledBatch:
    id: int
    writer: str
    number: int
    day: date
    events: list  # of TrackedEvent
    attempts: int = 0


class Spool:
    def __init__(self, path, limit, target):
        self.path = Path(path)
        self.limit = limit
        self.target = target
        self.error = None  # why the file could not be opened or written last time
        self._local = threading.local()
        try:
            self._connection()
        except (sqlite3.Error, OSError) as error:
            log.error("Internal events spool %s cannot be opened (%s): tracking goes on without it", self.path, error)

    def append(self, writer, number, day, events, count_dropped=True):
        """Keep one batch for replay; False when the spool is full (the batch dropped, and counted if `count_dropped`)."""
        kept = self.append_all([(writer, number, day, events)])
        if not kept and count_dropped:
            with self._transaction() as db:
                self._add(db, "dropped", len(events))
        return kept

    def append_all(self, batches):
        """Keep (writer, number, day, events) batches all in one transaction, or none when they do not fit."""
        rows = [
            (
                self.target,
                writer,
                number,
                day.isoformat(),
                len(events),
                json.dumps([asdict(event) for event in events]),
                _now(),
            )
            for writer, number, day, events in batches
        ]
        size = sum(row[4] for row in rows)
        with self._transaction() as db:
            pending = db.execute("SELECT SUM(value) FROM totals WHERE name = 'pending'").fetchone()[0]
            if pending + size > self.limit:
                return False
            db.executemany(f"INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._add(db, "pending", size)
            return True

    def quarantine(self, batch, reason):
        """Move a batch Redis refuses out of the replay's way, with the reason, for a person to look at."""
        payload = json.dumps([asdict(event) for event in batch.events])
        with self._transaction() as db:
            db.execute(
                "INSERT INTO quarantine (target, writer, number, day, size, events, reason, quarantined_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.target,
                    batch.writer,
                    batch.number,
                    batch.day.isoformat(),
                    len(batch.events),
                    payload,
                    reason[:1000],
                    _now(),
                ),
            )
            self._add(db, "quarantined", len(batch.events))
            if batch.id is not None and db.execute("DELETE FROM batches WHERE id = ?", (batch.id,)).rowcount:
                self._add(db, "pending", -len(batch.events))

    def oldest(self, count):
        rows = (
            self._connection()
            .execute(
                "SELECT id, writer, number, day, events, attempts FROM batches WHERE target = ? ORDER BY id LIMIT ?",
                (self.target, count),
            )
            .fetchall()
        )
        return [
            SpooledBatch(
                id,
                writer,
                number,
                date.fromisoformat(day),
                [TrackedEvent(**event) for event in json.loads(events)],
                attempts,
            )
            for id, writer, number, day, events, attempts in rows
        ]

    def attempting(self, ids, change=1):
        """Note a replay of these batches begins (`change` -1: it ended without applying them, and lived)."""
        marks = ",".join("?" * len(ids))
        with self._transaction() as db:
            db.execute(f"UPDATE batches SET attempts = attempts + ? WHERE id IN ({marks})", [change, *ids])

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
        """This target's events pending, dropped for lack of room, replayed and quarantined, over the spool's life.

        Never raises: a spool that cannot be read reports zeros and its `error`.
        """
        try:
            db = self._connection()
            totals = dict(db.execute("SELECT name, value FROM totals WHERE target = ?", (self.target,)))
            totals["batches"] = db.execute("SELECT COUNT(*) FROM batches WHERE target = ?", (self.target,)).fetchone()[
                0
            ]
        except (sqlite3.Error, OSError) as error:
            self.error = f"{type(error).__name__}: {error}"
            totals = {"batches": 0}
        return {**dict.fromkeys(TOTALS, 0), **totals, "error": self.error}

    def replay_lock(self):
        """True for the one process (and thread) allowed to replay now; the others get False at once."""
        return exclusive_lock(self.path.with_suffix(".lock"))

    def _add(self, db, name, amount):
        db.execute("UPDATE totals SET value = value + ? WHERE target = ? AND name = ?", (amount, self.target, name))

    def _connection(self):
        """This thread's connection: kept open (closing the last one checkpoints the log, a few ms),
        never shared between threads, never inherited by a forked worker, opened again when the file
        at the path is not the one it has open (deleted or replaced)."""
        self._check_writable()
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            try:
                if _identity(os.stat(self.path)) == local.identity:
                    return local.db
            except FileNotFoundError:
                pass
            self._reopen(local)
            return local.db
        self._open(local)
        return local.db

    def _check_writable(self):
        """Refuse a file that cannot be written or a nearly full disk before SQLite touches them.

        SQLite maps its shared index (the -shm file) into memory: on a full or read-only filesystem,
        or an immutable file, touching it can kill the whole process with SIGBUS instead of failing.
        """
        folder = self.path.parent
        if folder.exists():
            free = os.statvfs(folder)
            if free.f_bavail * free.f_frsize < MIN_FREE_BYTES:
                raise OSError(errno.ENOSPC, f"less than {MIN_FREE_BYTES // 1024} KiB free for the spool in {folder}")
        for path in (folder, self.path, *(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm"))):
            if path.exists() and not os.access(path, os.W_OK):
                raise OSError(errno.EPERM, f"{path} cannot be written (read-only or immutable)")

    def _open(self, local):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path)
        try:
            db.executescript(SCHEMA)
            if "attempts" not in {column[1] for column in db.execute("PRAGMA table_info(batches)")}:
                db.execute("ALTER TABLE batches ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")  # older spools
            db.executemany("INSERT OR IGNORE INTO totals VALUES (?, ?, 0)", [(self.target, name) for name in TOTALS])
            local.identity = _identity(os.stat(self.path))
        except BaseException:
            db.close()
            raise
        local.db, local.pid = db, os.getpid()
        self.error = None

    def _reopen(self, local):
        """The file was deleted or replaced: say so, and carry over what the old one still holds."""
        old = local.db
        try:
            rows = old.execute(f"SELECT {BATCH_COLUMNS} FROM batches").fetchall()
        except sqlite3.Error:
            rows = []
        old.close()
        local.pid = None
        self._open(local)
        with self._transaction() as db:
            db.executemany(f"INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            for target, size in _sizes_by_target(rows).items():
                db.execute("INSERT OR IGNORE INTO totals VALUES (?, 'pending', 0)", (target,))
                db.execute("UPDATE totals SET value = value + ? WHERE target = ? AND name = 'pending'", (size, target))
            self._add(db, "file_replaced", 1)
        log.error(
            "Internal events spool %s was deleted or replaced while in use: %d batch(es) it held were "
            "copied into the new file",
            self.path,
            len(rows),
        )

    @contextmanager
    def _transaction(self):
        try:
            db = self._connection()
        except (sqlite3.Error, OSError) as error:
            self._failed(error)
            raise sqlite3.OperationalError(self.error) from error
        with immediate_transaction(db, self._failed):
            yield db

    def _failed(self, error):
        self.error = f"{type(error).__name__}: {error}"


def _identity(stat):
    return stat.st_dev, stat.st_ino


def _sizes_by_target(rows):
    sizes = {}
    for target, *_, size, _events, _spooled_at in rows:
        sizes[target] = sizes.get(target, 0) + size
    return sizes


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds")
