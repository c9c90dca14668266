"""People who turned off event-level analytics about them, kept in the extension's own SQLite file.

The file sits in the instance folder (`INTERNAL_EVENTS_OPT_OUTS_PATH` moves it), so
the extension needs nothing of the host's database, and every process and script
of the instance reads the same table: an opt-out holds from the next event on,
whichever process tracks it. On disk rather than in Redis, a choice about privacy
is never evicted, and it is still honoured while Redis is down, when Snowplow
events keep flowing from the outbox. Aggregate counters are not affected: they
hold no pseudonym to withhold.
"""

import os
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_level_opt_outs (
    user_id INTEGER PRIMARY KEY,
    opted_out_at TEXT NOT NULL
)
"""


class OptOuts:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def among(self, user_ids: Iterable[int | None]) -> set[int]:
        """The ones of `user_ids` who opted out; raises sqlite3.Error when the table cannot be read."""
        ids = [user_id for user_id in set(user_ids) if user_id is not None]
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._connection().execute(f"SELECT user_id FROM event_level_opt_outs WHERE user_id IN ({marks})", ids)
        return {row[0] for row in rows}

    def has_opted_out(self, user_id: int | None) -> bool:
        return bool(self.among([user_id]))

    def set(self, user_id: int, opted_out: bool) -> None:
        db = self._connection()
        with db:
            if opted_out:
                db.execute(
                    "INSERT OR IGNORE INTO event_level_opt_outs VALUES (?, ?)",
                    (user_id, datetime.now(UTC).isoformat(timespec="seconds")),
                )
            else:
                db.execute("DELETE FROM event_level_opt_outs WHERE user_id = ?", (user_id,))

    def count(self) -> int:
        count: int = self._connection().execute("SELECT COUNT(*) FROM event_level_opt_outs").fetchone()[0]
        return count

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a forked worker opens its own); the table is made on first use."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10)
            db.execute(SCHEMA)
            local.db, local.pid = db, os.getpid()
        connection: sqlite3.Connection = local.db
        return connection
