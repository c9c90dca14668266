"""Users, each created with a personal namespace they own."""

from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash

from ..db import get_db, remembered
from ..domain import User


def _user(row):
    return (
        None
        if row is None
        else User(id=row["id"], username=row["username"], name=row["name"], is_admin=bool(row["is_admin"]))
    )


def by_id(user_id):
    return _user(get_db().execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone())


@remembered
def by_sign_in(token):
    """The user of a live sign-in token (see sign_ins.py), or None: signed out, revoked or unknown."""
    return _user(
        get_db()
        .execute(
            "SELECT users.* FROM sign_ins JOIN users ON users.id = sign_ins.user_id WHERE sign_ins.token = ?", (token,)
        )
        .fetchone()
    )


def by_username(username):
    return _user(get_db().execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone())


def authenticate(username, password):
    """The user with these credentials, or None; the hash is checked even for unknown names."""
    row = get_db().execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    stored = row["password_hash"] if row else _unknown_user_hash()
    return _user(row) if check_password_hash(stored, password) and row else None


@cache
def _unknown_user_hash():
    """Checking against a throwaway hash keeps "no such user" as slow as "wrong password".

    Made on first use: hashing takes ~0.1 s of every process start otherwise, `flask` commands included.
    """
    return generate_password_hash("no user has this password")


def create(username, name, password, is_admin=False):
    db = get_db()
    with db:
        user_id = db.execute(
            "INSERT INTO users (username, name, password_hash, is_admin) VALUES (?, ?, ?, ?)",
            (username, name, generate_password_hash(password), int(is_admin)),
        ).lastrowid
        namespace_id = db.execute(
            "INSERT INTO namespaces (path, name, kind, visibility, owner_id) VALUES (?, ?, 'user', 'private', ?)",
            (username, name, user_id),
        ).lastrowid
        db.execute(
            "INSERT INTO memberships (namespace_id, user_id, role) VALUES (?, ?, 'owner')", (namespace_id, user_id)
        )
    return by_id(user_id)


def everyone():
    return [_user(row) for row in get_db().execute("SELECT * FROM users ORDER BY username")]
