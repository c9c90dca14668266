"""Signing in and out against a real server: no open redirect, throttled guessing, revoked cookies."""

import html
import re

import pytest

from conftest import LiveSession, csrf_token_of

HOME = "/"


@pytest.fixture
def site(demo, live_server):
    return demo, live_server


def submit(session, username, password, **fields):
    """The real form: fetch the page for its CSRF token, post the credentials."""
    token = csrf_token_of(session.get("/users/sign_in").text)
    return session.post("/users/sign_in", data={"username": username, "password": password,
                                                "csrf_token": token, **fields})


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r\nSet-Cookie: x=1",
                                    "//evil.example", "\\\\evil.example", "/\\evil.example",
                                    " //evil.example", "/\x00/evil.example", "https://evil.example/"])
def test_sign_in_never_redirects_off_site_nor_fails(site, target):
    _, base = site
    session = LiveSession(base)
    form = session.get("/users/sign_in", params={"next": target})
    assert form.status_code == 200
    answer = submit(session, "bob", "bob-demo", next=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == HOME
    assert "x" not in session.cookies


def test_the_reported_link_signs_in_at_home(site):
    """`/users/sign_in?next=/%09/evil.example`: the form carries the tab on, and signing in stays here."""
    _, base = site
    session = LiveSession(base)
    form = session.get("/users/sign_in?next=/%09/evil.example").text
    carried = html.unescape(re.search(r'name="next" value="([^"]*)"', form).group(1))
    assert carried == "/\t/evil.example"
    answer = submit(session, "bob", "bob-demo", next=carried)
    assert answer.headers["Location"] == HOME


def test_a_path_on_the_site_is_kept(site):
    _, base = site
    answer = submit(LiveSession(base), "bob", "bob-demo", next="/projects/new?from=menu")
    assert answer.headers["Location"] == "/projects/new?from=menu"
