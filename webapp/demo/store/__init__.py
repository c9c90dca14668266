"""Reading and writing the product's data in SQLite; every query that returns something checks visibility."""

from ..db import get_db


def viewer_params(user):
    """SQL parameters naming who looks: signed-out visitors see public things only."""
    return {"viewer": user.id if user else -1, "admin": int(bool(user and user.is_admin))}


def totals():
    """How many of each thing exist, for the admin area."""
    db = get_db()
    return {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("users", "namespaces", "projects", "issues", "stars")
    }
