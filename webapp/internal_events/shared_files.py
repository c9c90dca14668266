"""SQLite files shared by the threads and processes of one app instance (the spool, the Snowplow outbox).

WAL with synchronous=NORMAL: a commit survives the death of its process; a power
cut may lose the last ones. Writers take the write lock when their transaction
begins, and one process at a time does a file's exclusive work (replaying,
sending) under a lock the kernel releases when its holder dies.
"""

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager


def connect(path):
    """A connection to `path` in WAL mode, committing only when told (see immediate_transaction)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def thread_connection(local, path):
    """This thread's connection to `path`, kept in `local` (a threading.local).

    Kept open (closing the last one checkpoints the log, a few ms), never shared
    between threads, never inherited by a forked worker.
    """
    if getattr(local, "pid", None) != os.getpid():
        local.db = connect(path)
        local.pid = os.getpid()
    return local.db


@contextmanager
def immediate_transaction(db, failed=None):
    """Take the write lock at once, so two processes never both read and then both write.

    `failed(error)` hears of a BEGIN or COMMIT that failed: the file's trouble, not a statement's.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as error:
        if failed:
            failed(error)
        raise
    try:
        yield db
    except BaseException:
        _roll_back(db)
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error as error:
        if failed:
            failed(error)
        _roll_back(db)
        raise


@contextmanager
def exclusive_lock(path, wait=0.0):
    """True for the one process (and thread) holding the lock on `path`; False when another holds it past `wait` s.

    The kernel releases it when its holder dies, however it dies.
    """
    deadline = time.monotonic() + wait
    with open(path, "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _roll_back(db):
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite rolled back by itself
