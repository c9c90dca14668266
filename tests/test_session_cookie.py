"""The session cookie with remembered verifications: as safe as Flask's own, only cheaper."""

from datetime import timedelta

import pytest
import time_machine
from flask import Flask, session

from webapp.demo import session_cookie


@pytest.fixture
def app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="first", PERMANENT_SESSION_LIFETIME=timedelta(days=31))
    session_cookie.init_app(app)

    @app.post("/sign_in/<int:user_id>")
    def sign_in(user_id):
        session.update(user_id=user_id, recent=["home"])
        return ""

    @app.get("/whoami")
    def whoami():
        return {"user_id": session.get("user_id"), "recent": session.get("recent")}

    @app.get("/browse")
    def browse():
        session["recent"].append("elsewhere")  # changes a nested value: Flask does not save that
        return ""

    return app


def signed_in(app, user_id=7):
    client = app.test_client()
    client.post(f"/sign_in/{user_id}")
    return client


def test_a_valid_cookie_opens_the_session_again_and_again(app):
    client = signed_in(app)
    for _ in range(3):
        assert client.get("/whoami").json == {"user_id": 7, "recent": ["home"]}


def test_a_tampered_cookie_is_refused_even_after_the_real_one_was_seen(app):
    client = signed_in(app)
    assert client.get("/whoami").json["user_id"] == 7
    cookie = client.get_cookie("session").value
    payload, timestamp, signature = cookie.rsplit(".", 2)
    forged = signed_in(app, user_id=8).get_cookie("session").value.rsplit(".", 2)[0]
    for value in (f"{forged}.{timestamp}.{signature}", f"{payload}.{timestamp}.{signature[:-2]}AA", "garbage"):
        client.set_cookie("session", value)
        assert client.get("/whoami").json["user_id"] is None


def test_a_cookie_older_than_the_session_lifetime_is_refused_though_remembered(app):
    with time_machine.travel("2026-01-01 12:00", tick=False) as clock:
        client = signed_in(app)
        assert client.get("/whoami").json["user_id"] == 7
        clock.shift(timedelta(days=31))
        assert client.get("/whoami").json["user_id"] == 7
        clock.shift(timedelta(seconds=1))
        assert client.get("/whoami").json["user_id"] is None


def test_what_one_request_changes_in_place_does_not_leak_into_the_next(app):
    client = signed_in(app)
    client.get("/browse")
    assert client.get("/whoami").json["recent"] == ["home"]


def test_rotated_keys_keep_sessions_signed_with_a_fallback_and_drop_the_others(app):
    client = signed_in(app)
    app.config.update(SECRET_KEY="second", SECRET_KEY_FALLBACKS=["first"])
    assert client.get("/whoami").json["user_id"] == 7
    app.config.update(SECRET_KEY_FALLBACKS=[])
    assert client.get("/whoami").json["user_id"] is None


def test_the_session_cookie_is_found_among_others_in_short_and_long_headers(app):
    cookie = signed_in(app).get_cookie("session").value
    browser = app.test_client(use_cookies=False)  # sends the Cookie header as given

    def user_id(header):
        return browser.get("/whoami", headers={"Cookie": header}).json["user_id"]

    for others in ("theme=dark", "tracker=" + "x" * session_cookie.MAX_REMEMBERED_HEADER):  # remembered, then not
        header = f"{others}; session={cookie}"
        assert user_id(header) == 7 and user_id(header) == 7
        assert user_id(header[:-2] + "AA") is None
    assert user_id("theme=dark") is None


def test_a_request_that_leaves_the_session_unchanged_sends_no_cookie_but_varies_on_it(app):
    client = signed_in(app)
    response = client.get("/whoami")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]
    assert "Set-Cookie" in client.post("/sign_in/8").headers
