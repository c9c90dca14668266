"""Signed-in sessions kept on the server, so signing out revokes the cookie everywhere.

The session cookie carries a random token; a request is signed in only while
its token has a row here (`users.by_sign_in`). Every worker reads the same database on every
request (the user lookup already did), so a revocation holds at once in all of
them, whatever the session-cookie cache remembers.
"""

import secrets
import time

from ..db import get_db


def start(user_id, lifetime_seconds):
    """A new token for `user_id`; sessions older than the cookie's lifetime are pruned on the way."""
    token, now = secrets.token_urlsafe(32), int(time.time())
    db = get_db()
    with db:
        db.execute("DELETE FROM sign_ins WHERE started_at < ?", (now - lifetime_seconds,))
        db.execute("INSERT INTO sign_ins (token, user_id, started_at) VALUES (?, ?, ?)", (token, user_id, now))
    return token


def end(token):
    db = get_db()
    with db:
        db.execute("DELETE FROM sign_ins WHERE token = ?", (token,))
