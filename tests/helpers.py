"""Helpers shared by the tests: signing in to the demo, sessions on live servers, the collector's token."""

import json
import os
import re
import shutil
import sqlite3
import time
from contextlib import closing

import requests
from snowplow_tracker import SelfDescribingJson, StructuredEvent, Tracker

from webapp.demo.config import collector_token
from webapp.internal_events.contexts import SERVICE_PING_CONTEXT, STANDARD_CONTEXT

# Strong enough for tests that switch to production, which refuses weak keys.
TEST_SECRET_KEY = "test-only-secret-key-0123456789abcdef"


def collector_headers(config):
    """What the app's own tracker shows its collector (see webapp.internal_events.settings.collector_token)."""
    return {"Authorization": f"Bearer {collector_token(config)}", "Content-Type": "application/json"}


def reset_collector(session):
    """Empty the app's collector as an administrator would: a POST with the page's CSRF token."""
    page = session.get("/")
    token = csrf_token_of(page.text if hasattr(page, "text") else page.get_data(as_text=True))
    assert session.post("/micro/reset", headers={"X-CSRF-Token": token}).status_code == 200


def csrf_token_of(html):
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def submit_sign_in(client, username, password=None, **fields):
    """Fill in and send the real sign-in form with `client` (a Flask test client or a LiveSession)."""
    page = client.get("/users/sign_in")
    return client.post(
        "/users/sign_in",
        data={
            "username": username,
            "password": password or f"{username}-demo",
            "csrf_token": csrf_token_of(page.text),
            **fields,
        },
    )


def sign_in(client, username, password=None):
    response = submit_sign_in(client, username, password)
    assert response.status_code == 302, f"could not sign in as {username}"
    return client


def sign_in_page(page, base, username="bob"):
    """Sign in through the real form in the browser."""
    page.goto(f"{base}/users/sign_in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-demo")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(f"{base}/")


class LiveSession(requests.Session):
    """A requests session whose paths are relative to a live server; redirects are not followed."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, self.base + url, *args, **kwargs)


def demo_environment(folder, redis_url, key_prefix, demo_database, **settings):
    """Environment for the demo app in another process (gunicorn): its own copy of the seeded database in `folder`."""
    shutil.copyfile(demo_database, folder / "webapp.sqlite")
    return {
        **os.environ,
        "WEBAPP_ENV": "test",
        "SECRET_KEY": "test-" + key_prefix,
        "REDIS_URL": redis_url,
        "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
        "DATABASE_PATH": str(folder / "webapp.sqlite"),
        "WEBAPP_INSTANCE_PATH": str(folder),
        **settings,
    }


def website_id(database):
    """The id of the demo's public project acme/website in a seeded database."""
    with closing(sqlite3.connect(database)) as db:
        return db.execute(
            "SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id"
            " WHERE n.path = 'acme' AND p.path = 'website'"
        ).fetchone()[0]


class _Captured:
    """An emitter keeping what snowplow-tracker emits, as the version before outbox records kept it."""

    def __init__(self):
        self.payloads = []

    def input(self, payload):
        self.payloads.append({key: str(value) for key, value in payload.items()})


def keep_as_the_earlier_version(outbox_path, app_id, pseudonym):
    """Write into an outbox file a `project_viewed` event of `pseudonym` as the version before records did
    (the whole tracker payload); returns that payload."""
    captured = _Captured()
    standard = {
        "environment": "test",
        "source": "python",
        "user_id": pseudonym,
        "namespace_id": 1,
        "project_id": 2,
        "plan": None,
        "context_generated_at": "2026-11-29T10:00:00.000+00:00",
    }
    Tracker("internal-events", captured, app_id=app_id, encode_base64=True).track(
        StructuredEvent(
            category="InternalEventTracking",
            action="project_viewed",
            context=[
                SelfDescribingJson(STANDARD_CONTEXT, standard),
                SelfDescribingJson(SERVICE_PING_CONTEXT, {"data_source": "redis_hll", "event_name": "project_viewed"}),
            ],
        )
    )
    (payload,) = captured.payloads
    with closing(sqlite3.connect(outbox_path)) as db, db:
        db.execute("INSERT INTO events (payload, queued_at) VALUES (?, ?)", (json.dumps(payload), time.time()))
    return payload
