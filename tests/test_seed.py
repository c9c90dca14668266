"""`flask --app webapp seed-demo`: the demo data, created once, never in production."""

import secrets
import sqlite3

from webapp import create_app
from webapp.demo.seed import GROUPS, PROJECTS, USERS

from helpers import sign_in


def rows(app, table):
    with sqlite3.connect(app.config["DATABASE"]) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_seed_demo_creates_the_demo_data_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "alice/alice-demo" in first.output
    assert (rows(app, "users"), rows(app, "projects")) == (len(USERS), len(PROJECTS))
    assert rows(app, "namespaces") == len(USERS) + len(GROUPS)
    before = {table: rows(app, table) for table in ("users", "namespaces", "memberships", "projects", "issues")}
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and "(0 new record(s))" in again.output
    assert {table: rows(app, table) for table in before} == before


def test_seeding_tracks_no_events(app, redis_client, key_prefix):
    app.test_cli_runner().invoke(args=["seed-demo"])
    assert list(redis_client.scan_iter(match=key_prefix + "*")) == []


def test_seed_demo_refuses_production(config):
    app = create_app({**config, "WEBAPP_ENV": "production", "SECRET_KEY": secrets.token_hex(32)})
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "not in production" in result.output
    assert rows(app, "users") == 0


def test_every_listed_demo_user_signs_in(demo):
    for username, _, password, is_admin in USERS:
        client = sign_in(demo.test_client(), username, password)
        assert client.get("/admin/").status_code == (200 if is_admin else 403)
