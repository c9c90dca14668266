"""Files shared by the threads and processes of one app instance (the spool, the Snowplow outbox)."""

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager


def thread_connection(local, path):
    """This thread's connection to `path`, kept in `local` (a threading.local).

    Kept open (closing the last one checkpoints the log, a few ms), never shared
    between threads, never inherited by a forked worker. WAL with synchronous=NORMAL:
    a commit survives the death of its process; a power cut may lose the last ones.
    """
    if getattr(local, "pid", None) != os.getpid():
        local.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        local.db.execute("PRAGMA journal_mode=WAL")
        local.db.execute("PRAGMA synchronous=NORMAL")
        local.pid = os.getpid()
    return local.db


@contextmanager
def immediate_transaction(db):
    """Take the write lock at once, so two processes never both read and then both write."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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
