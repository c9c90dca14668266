"""The app's SQLite database: one connection per thread, kept between requests; schema applied on start.

Opening a connection per request (as in Flask's tutorial) costs about 2 ms a
request here: the first query of a connection reads the schema and the WAL
index, and closing the last one checkpoints the log.

Lookups every API request makes (who is signed in, may they see this project)
are answered from memory while the database is unchanged (`remembered`): each
request asks SQLite once whether anything was committed since, by any
connection of any process (`PRAGMA data_version`), and forgets every answer if
so. A sign-out, a removed membership or a deleted user therefore takes effect
at the next request that starts after its commit, as without the memory.
"""

import functools
import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from flask import current_app, g

SCHEMA = Path(__file__).with_name("schema.sql")
MAX_ANSWERS = 1024  # per thread's connection; all are forgotten when full (a few hundred bytes each)


def connect(path):
    # A generous timeout: gunicorn workers write to the same file and wait for each other's locks.
    connection = sqlite3.connect(path, timeout=10)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


_kept = threading.local()


def get_db():
    if "db" not in g:
        kept = _kept_connection(current_app.config["DATABASE"])
        kept.forget_if_changed()
        g.db, g.db_answers = kept.connection, kept
    return g.db


class _Kept:
    """A thread's connection and the answers `remembered` keeps for it (at most MAX_ANSWERS)."""

    def __init__(self, connection):
        self.connection = connection
        self.answers = {}
        self._version = None

    def forget_if_changed(self):
        """Forget every answer once any commit (here or in another connection) changed the database."""
        version = (self.connection.execute("PRAGMA data_version").fetchone()[0], self.connection.total_changes)
        if version != self._version:
            self.answers.clear()
            self._version = version

    def lookup(self, key, compute):
        if self.connection.in_transaction:  # writes not committed yet may still be rolled back: not remembered
            return compute()
        if self.connection.total_changes != self._version[1]:  # this connection committed since: answers may differ
            self.forget_if_changed()
        if key not in self.answers:
            if len(self.answers) >= MAX_ANSWERS:
                self.answers.clear()
            self.answers[key] = compute()
        return self.answers[key]


def remembered(lookup):
    """`lookup(*args)`, answered from memory while the database is unchanged (see the module's docstring).

    Only for lookups that read the database and nothing else: arguments hashable, answers never changed by callers.
    """

    @functools.wraps(lookup)
    def answer(*args):
        get_db()
        return g.db_answers.lookup((lookup, *args), lambda: lookup(*args))

    return answer


def _kept_connection(path):
    """This thread's connection to `path`, with its answers; a forked worker opens its own."""
    if getattr(_kept, "pid", None) != os.getpid():
        _kept.pid, _kept.connections = os.getpid(), {}
    if path not in _kept.connections:
        _kept.connections[path] = _Kept(connect(path))
    return _kept.connections[path]


def close_db(exception=None):
    """End the request's work on the connection; the connection itself stays open for the next request."""
    connection = g.pop("db", None)
    g.pop("db_answers", None)
    if connection is not None and connection.in_transaction:
        connection.rollback()  # what a request did not commit is not left for the next one


def create_schema(path):
    """Create the tables that are missing; WAL lets readers go on while one worker writes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with closing(connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(SCHEMA.read_text())


def carry_over_opt_outs(path, opt_outs):
    """Opt-outs an earlier release kept in this database move to the extension's own store, once.

    Copied before the old table is dropped, and setting one twice changes nothing, so workers
    starting together lose none. Returns how many were moved.
    """
    with closing(connect(path)) as connection:
        try:
            rows = connection.execute("SELECT user_id FROM event_level_opt_outs").fetchall()
        except sqlite3.OperationalError:  # no such table: nothing was kept here
            return 0
        for (user_id,) in rows:
            opt_outs.set(user_id, True)
        with connection:
            connection.execute("DROP TABLE IF EXISTS event_level_opt_outs")
    return len(rows)


def init_app(app):
    """The schema, and the opt-outs an earlier release kept here (the extension is set up first)."""
    if not app.config.get("DATABASE"):
        app.config["DATABASE"] = str(Path(app.instance_path) / "webapp.sqlite")
    create_schema(app.config["DATABASE"])
    carry_over_opt_outs(app.config["DATABASE"], app.extensions["internal_events"].privacy.opt_outs)
    app.teardown_appcontext(close_db)
