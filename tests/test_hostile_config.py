"""Smaller hardening: the secret key, HSTS, no-store, group roles, writer markers of the development server."""

import os
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.sessions import SecureCookieSessionInterface
from test_pages import page_context, post_form

from webapp import create_app
from webapp.demo.config import ConfigError, from_environment
from webapp.demo.secret_key import KEY_FILE
from webapp.demo.store import users
from webapp.internal_events import current
from webapp.internal_events.pseudonym_key import instance_secret

from helpers import LiveSession, sign_in
from servers import serving

# -- the secret key -------------------------------------------------------------------------------


def test_without_a_secret_key_each_instance_makes_its_own(config, tmp_path, monkeypatch):
    assert from_environment({"WEBAPP_ENV": "development"})["SECRET_KEY"] is None
    keys = []
    for folder in ("one", "one", "two"):
        monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path / folder))
        keys.append(create_app({**config, "WEBAPP_ENV": "development", "SECRET_KEY": None}).secret_key)
    assert keys[0] == keys[1] != keys[2]
    assert len(keys[0]) == 64 and keys[0] != "dev"
    key_file = tmp_path / "one" / KEY_FILE
    assert key_file.read_text().strip() == keys[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_workers_starting_together_agree_on_one_key(tmp_path):
    path = tmp_path / "instance" / KEY_FILE
    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: instance_secret(path), range(64)))
    assert keys == {path.read_text().strip()}
    assert os.listdir(path.parent) == [KEY_FILE]  # no drafts left behind


def test_a_cookie_signed_with_the_old_default_key_signs_nobody_in(make_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_demo(WEBAPP_ENV="development", SECRET_KEY=None)
    forger = app.__class__(__name__)
    forger.secret_key = "dev"
    with app.app_context():
        admin = users.by_username("admin").id
    forged = SecureCookieSessionInterface().get_signing_serializer(forger).dumps({"user_id": admin, "sign_in": "guess"})
    with serving(app) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        session = LiveSession(base)
        session.headers["Cookie"] = f"session={forged}"
        assert page_context(session.get("/").text)["user_id"] is None


@pytest.mark.parametrize(
    "key, problem",
    [
        (None, "SECRET_KEY must be set in production"),
        ("dev", "too weak"),
        ("test", "too weak"),
        ("a" * 64, "too weak"),
        ("short-but-random-" + "x" * 10, "too weak"),
    ],
)
def test_production_refuses_a_missing_or_weak_key(config, key, problem):
    with pytest.raises(ConfigError, match=problem):
        create_app({**config, "WEBAPP_ENV": "production", "SECRET_KEY": key})


def test_production_takes_a_strong_key(config):
    key = secrets.token_hex(32)
    assert create_app({**config, "WEBAPP_ENV": "production", "SECRET_KEY": key}).secret_key == key


# -- response headers -----------------------------------------------------------------------------


def test_secure_cookies_come_with_hsts(make_demo):
    secure = make_demo(SESSION_COOKIE_SECURE=True).test_client().get("/users/sign_in")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = make_demo().test_client().get("/users/sign_in")
    assert "Strict-Transport-Security" not in plain.headers


def test_signed_in_pages_are_never_stored(client_for, demo):
    bob = client_for("bob")
    for path in ("/", "/acme/website", "/groups/acme", "/projects/new"):
        assert bob.get(path).headers["Cache-Control"] == "no-store", path
    signed_out = demo.test_client().get("/acme/website")
    assert "no-store" not in signed_out.headers.get("Cache-Control", "")


def test_built_assets_keep_their_own_caching(client_for):
    bob = client_for("bob")
    home = bob.get("/").text
    script = next(part.split('"')[0] for part in home.split('src="')[1:] if "/static/" in part.split('"')[0])
    answer = bob.get(script)
    assert answer.status_code == 200
    assert "no-store" not in answer.headers["Cache-Control"]


# -- group roles ----------------------------------------------------------------------------------


def test_a_maintainer_cannot_invite_an_owner(client_for, demo):
    alice = client_for("alice")
    assert post_form(alice, "/groups/secret-lab/members", {"username": "bob", "role": "maintainer"}).status_code == 302
    bob = client_for("bob")
    page = bob.get("/groups/secret-lab").text
    assert 'value="maintainer"' in page and 'value="owner"' not in page
    refused = post_form(bob, "/groups/secret-lab/members", {"username": "admin", "role": "owner"})
    assert refused.status_code == 403
    assert "a maintainer cannot invite an owner" in refused.get_json()["error"]
    assert post_form(bob, "/groups/secret-lab/members", {"username": "admin", "role": "maintainer"}).status_code == 302
    roles = {member.username: role for member, role in _members(demo, "secret-lab")}
    assert roles == {"alice": "owner", "bob": "maintainer", "admin": "maintainer"}


def _members(app, path):
    from webapp.demo.store import namespaces

    with app.app_context():
        return namespaces.members(namespaces.by_path(path))


# -- writer markers -------------------------------------------------------------------------------


def test_the_development_server_keeps_one_writer_for_sequential_requests(make_demo):
    """A thread per request must not mean a writer (and a 30-day marker key in Redis) per request."""
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=0)
    with serving(app) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        bob = sign_in(LiveSession(base), "bob")
        bob.headers.update({"Origin": base, "Sec-Fetch-Site": "same-origin", "Connection": "close"})
        for _ in range(40):
            answer = bob.post(
                "/api/v4/usage_data/track_event",
                json={"event": "help_link_clicked", "additional_properties": {"label": "docs"}},
            )
            assert answer.status_code == 200
    with app.app_context():
        counters = current().counters
        markers = list(counters.redis.scan_iter(match=f"{counters.keys.prefix}*:w:*", count=1000))
    assert len(markers) == 1, markers
