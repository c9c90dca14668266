"""Signing in and out against a real server: no open redirect, throttled guessing, revoked cookies."""

import html
import re

import pytest
from test_pages import page_context

from webapp.demo.sign_in_throttle import ACCOUNT_CEILING, CLIENT_FAILURES, PAIR_FAILURES, WINDOW_SECONDS, SignInThrottle
from webapp.demo.store import users

from helpers import LiveSession, csrf_token_of, demo_environment, submit_sign_in
from servers import AppServer, Gunicorn

HOME = "/"
API = "/api/v4/usage_data"


@pytest.fixture
def site(demo, live_server):
    return demo, live_server


def submit(session, username, password, **fields):
    """The real form: fetch the page for its CSRF token, post the credentials."""
    token = csrf_token_of(session.get("/users/sign_in").text)
    return session.post(
        "/users/sign_in", data={"username": username, "password": password, "csrf_token": token, **fields}
    )


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: x=1",
        "//evil.example",
        "\\\\evil.example",
        "/\\evil.example",
        " //evil.example",
        "/\x00/evil.example",
        "https://evil.example/",
    ],
)
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


# -- guessing passwords ---------------------------------------------------------------------------


def test_guessing_one_account_is_throttled_and_even_the_right_password_waits(site):
    _, base = site
    session = LiveSession(base)
    for attempt in range(PAIR_FAILURES):
        assert submit(session, "bob", f"guess-{attempt}").status_code == 401
    refused = submit(session, "bob", "guess-again")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    assert "Too many failed sign-in attempts" in refused.text
    right = submit(session, "bob", "bob-demo")
    assert right.status_code == 429 and "Location" not in right.headers


def test_past_the_limit_an_unknown_account_answers_like_a_known_one(site):
    _, base = site
    answers = {}
    for username in ("bob", "nobody-here"):
        session = LiveSession(base)
        for attempt in range(PAIR_FAILURES):
            assert submit(session, username, f"guess-{attempt}").status_code == 401
        answers[username] = submit(session, username, "guess-again")
    known, unknown = answers["bob"], answers["nobody-here"]
    assert known.status_code == unknown.status_code == 429
    assert set(known.headers) == set(unknown.headers)
    assert _flash(known.text) == _flash(unknown.text)


def test_one_client_guessing_many_accounts_is_throttled(site):
    _, base = site
    session = LiveSession(base)
    for attempt in range(CLIENT_FAILURES):
        assert submit(session, f"user-{attempt}", "guess").status_code == 401
    assert submit(session, "alice", "guess").status_code == 429


def test_signing_in_forgets_the_accounts_earlier_typos(site):
    _, base = site
    for _ in range(2):
        session = LiveSession(base)
        for attempt in range(PAIR_FAILURES - 1):
            assert submit(session, "bob", f"typo-{attempt}").status_code == 401
        assert submit(session, "bob", "bob-demo").status_code == 302


def test_throttled_attempts_cost_no_password_hashing(demo, monkeypatch):
    hashed = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda *args: hashed.append(1) or real(*args))
    client = demo.test_client()
    for attempt in range(PAIR_FAILURES):
        submit_sign_in(client, "bob", f"guess-{attempt}")
    assert len(hashed) == PAIR_FAILURES
    for attempt in range(20):
        assert submit_sign_in(client, "bob", f"more-{attempt}").status_code == 429
    assert len(hashed) == PAIR_FAILURES


@pytest.fixture
def behind_proxy(make_demo):
    """The demo behind one reverse proxy (WEBAPP_PROXIES=1), over real HTTP: the client is whom X-Forwarded-For names."""
    server = AppServer(make_demo(WEBAPP_PROXIES=1)).start()
    yield server.app, server.url
    server.stop()


def client_at(base, address):
    session = LiveSession(base)
    session.headers["X-Forwarded-For"] = address
    return session


def test_guesses_from_one_client_do_not_lock_the_owner_out(behind_proxy):
    _, base = behind_proxy
    guesser = client_at(base, "203.0.113.9")
    for attempt in range(PAIR_FAILURES):
        assert submit(guesser, "bob", f"guess-{attempt}").status_code == 401
    assert submit(guesser, "bob", "bob-demo").status_code == 429  # that client waits, even with the password
    assert submit(client_at(base, "198.51.100.7"), "bob", "bob-demo").status_code == 302  # the owner does not


def test_past_the_account_ceiling_each_client_gets_one_guess_and_the_owner_still_signs_in(behind_proxy):
    app, base = behind_proxy
    with app.app_context():  # guesses from many clients, counted as the sign-in form counts them
        events = app.extensions["internal_events"]
        throttle = SignInThrottle(events.counters.redis, events.counters.keys.prefix)
        for client in range(ACCOUNT_CEILING):
            throttle.failed("bob", f"10.0.{client // 250}.{client % 250}")
    assert submit(client_at(base, "10.0.0.1"), "bob", "bob-demo").status_code == 429  # it had its guess
    newcomer = client_at(base, "192.0.2.50")
    assert submit(newcomer, "bob", "guess").status_code == 401
    refused = submit(newcomer, "bob", "guess-again")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= WINDOW_SECONDS
    assert submit(client_at(base, "198.51.100.7"), "bob", "bob-demo").status_code == 302


def test_without_proxies_set_a_forwarded_address_is_not_believed(site):
    _, base = site
    for attempt in range(PAIR_FAILURES):
        assert submit(client_at(base, f"203.0.113.{attempt}"), "bob", f"guess-{attempt}").status_code == 401
    assert submit(client_at(base, "198.51.100.7"), "bob", "bob-demo").status_code == 429  # all one client: 127.0.0.1


def _flash(html_text):
    return re.search(r'<p class="flash[^>]*>([^<]*)</p>', html_text).group(1)


# -- signing out ----------------------------------------------------------------------------------


@pytest.fixture
def workers(tmp_path, redis_url, key_prefix, demo_database):
    """Three gunicorn workers, each with its own session-cookie cache."""
    environment = demo_environment(
        tmp_path, redis_url, key_prefix, demo_database, INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT="0"
    )
    server = Gunicorn(environment, 3)
    try:
        yield server.start().url
    finally:
        server.stop()


def test_a_cookie_saved_before_signing_out_no_longer_signs_in_on_any_worker(workers):
    base = workers
    bob = LiveSession(base)
    assert submit(bob, "bob", "bob-demo").status_code == 302
    saved = bob.cookies["session"]
    event = {"event": "help_link_clicked", "additional_properties": {"label": "docs"}}

    def replay(path, **kwargs):
        thief = LiveSession(base)
        thief.headers.update({"Cookie": f"session={saved}", "Origin": base, "Sec-Fetch-Site": "same-origin"})
        return thief.post(path, **kwargs) if "json" in kwargs else thief.get(path)

    # Every worker verifies (and remembers) the cookie before the sign-out.
    assert all(replay(f"{API}/track_event", json=event).status_code == 200 for _ in range(12))
    home = bob.get("/")
    assert bob.post("/users/sign_out", data={"csrf_token": csrf_token_of(home.text)}).status_code == 302
    for _ in range(12):
        assert replay(f"{API}/track_event", json=event).status_code == 401
        assert page_context(replay("/").text)["user_id"] is None


def test_signing_out_ends_only_that_session(site):
    _, base = site
    phone, laptop = LiveSession(base), LiveSession(base)
    for session in (phone, laptop):
        assert submit(session, "alice", "alice-demo").status_code == 302
    home = phone.get("/")
    phone.post("/users/sign_out", data={"csrf_token": csrf_token_of(home.text)})
    assert page_context(phone.get("/").text)["user_id"] is None
    assert page_context(laptop.get("/").text)["user_id"] is not None
