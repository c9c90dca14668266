"""The app's SQLite database: one connection per request (as in Flask's tutorial), schema applied on start."""

import sqlite3
from contextlib import closing
from pathlib import Path

from flask import current_app, g

SCHEMA = Path(__file__).with_name("schema.sql")


def connect(path):
    # A generous timeout: gunicorn workers write to the same file and wait for each other's locks.
    connection = sqlite3.connect(path, timeout=10)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def get_db():
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(exception=None):
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def create_schema(path):
    """Create the tables that are missing; WAL lets readers go on while one worker writes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with closing(connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(SCHEMA.read_text())


def init_app(app):
    if not app.config.get("DATABASE"):
        app.config["DATABASE"] = str(Path(app.instance_path) / "webapp.sqlite")
    create_schema(app.config["DATABASE"])
    app.teardown_appcontext(close_db)
