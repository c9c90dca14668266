"""Hostile requests to the usage-data API over real HTTP: each is refused with the right status and counts nothing.

Complements test_usage_data_api.py (validation, cross-site headers, rate limit
through the test client) with what only a real server shows: raw response
headers, chunked bodies, cookies forged outside the app.
"""

import http.client
import json

import pytest
from flask.sessions import SecureCookieSessionInterface

from webapp.demo.store import namespaces, projects, users
from webapp.internal_events import current
from webapp.internal_events.service_ping import metric_values

from helpers import LiveSession, sign_in
from servers import serving

API = "/api/v4/usage_data"


@pytest.fixture
def site(make_demo):
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=0)
    with serving(app) as server:
        yield app, f"http://127.0.0.1:{server.server_port}"


def as_user(base, username):
    session = sign_in(LiveSession(base), username)
    session.headers.update({"Origin": base, "Sec-Fetch-Site": "same-origin"})
    return session


def nothing_counted(app):
    with app.app_context():
        return not any(metric_values(current()).values())


def ids(app):
    with app.app_context():
        alice = users.by_username("alice")
        return {
            "admin": users.by_username("admin").id,
            "lab project": projects.visible_by_path(alice, "secret-lab", "prototype").id,
            "lab group": namespaces.by_path("secret-lab").id,
            "bob's private project": projects.visible_by_path(users.by_username("bob"), "bob", "notes").id,
        }


def test_a_session_cookie_forged_with_another_key_is_signed_out(site):
    app, base = site
    forger = app.__class__(__name__)
    forger.secret_key = "not the app's key"
    forged = SecureCookieSessionInterface().get_signing_serializer(forger).dumps({"user_id": ids(app)["admin"]})
    session = LiveSession(base)
    session.headers.update({"Origin": base, "Cookie": f"session={forged}"})
    answer = session.post(f"{API}/track_event", json={"event": "admin_area_viewed"})
    assert answer.status_code == 401 and "sign in" in answer.json()["error"]
    assert nothing_counted(app)


@pytest.mark.parametrize("field", ["user_id", "namespace_id", "project_id"])
def test_ids_of_someone_else_are_refused(site, field):
    """Another user, and the private group and projects bob is not a member of."""
    app, base = site
    known = ids(app)
    forged = {"user_id": known["admin"], "namespace_id": known["lab group"], "project_id": known["lab project"]}[field]
    bob = as_user(base, "bob")
    single = bob.post(f"{API}/track_event", json={"event": "project_viewed", field: forged})
    assert single.status_code == (400 if field == "user_id" else 404)
    batch = bob.post(
        f"{API}/track_events",
        json={
            "events": [
                {"event": "project_viewed", field: forged},
                {"event": "project_viewed", "project_id": known["bob's private project"]},  # his own: fine
            ]
        },
    ).json()
    assert [r["accepted"] for r in batch["results"]] == [False, True]
    alice = as_user(base, "alice")
    assert (
        alice.post(
            f"{API}/track_event", json={"event": "project_viewed", "project_id": known["bob's private project"]}
        ).status_code
        == 404
    )
    with app.app_context():
        counted = metric_values(current())
    assert counted["redis_hll_counters.count_distinct_project_id_from_project_viewed_weekly"] == 1
    assert counted["redis_hll_counters.count_distinct_user_id_from_project_viewed_weekly"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "project_viewed\r\nSet-Cookie: injected=1",
        "project_viewed\nX-Injected: 1",
        "project_viewed%0d%0aSet-Cookie:%20injected=1",
        "project_viewed\u2028X-Injected: 1",
        "\r\n\r\n<script>alert(1)</script>",
    ],
)
def test_header_injection_in_event_names_is_refused_and_never_reaches_a_header(site, name):
    app, base = site
    bob = as_user(base, "bob")
    single = bob.post(f"{API}/track_event", json={"event": name})
    batch = bob.post(f"{API}/track_events", json={"events": [{"event": name}]})
    prop = bob.post(
        f"{API}/track_event", json={"event": "help_link_clicked", "additional_properties": {"label": name * 20}}
    )
    assert single.status_code == 400 and "unknown event" in single.json()["error"]
    assert batch.status_code == 200 and batch.json()["results"][0]["accepted"] is False
    assert prop.status_code == 400 and "longer than 255" in prop.json()["error"]
    for answer in (single, batch, prop):
        assert "injected" not in answer.headers.get("Set-Cookie", "")
        assert "X-Injected" not in answer.headers
        assert answer.headers["Content-Type"] == "application/json"
    assert "injected" not in str(bob.cookies)
    assert nothing_counted(app)


def test_an_oversized_chunked_body_without_length_is_refused(site):
    """No Content-Length to refuse up front: the server stops reading at the limit."""
    app, base = site
    bob = as_user(base, "bob")
    event = json.dumps({"event": "help_link_clicked", "additional_properties": {"label": "x" * 200}})
    body = ('{"events": [' + ",".join([event] * 400) + "]}").encode()  # about 100 KB, limit 64 KiB
    connection = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
    headers = {
        **bob.headers,
        "Content-Type": "application/json",
        "Cookie": "; ".join(f"{c.name}={c.value}" for c in bob.cookies),
    }
    connection.request(
        "POST",
        f"{API}/track_events",
        body=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
        headers=headers,
        encode_chunked=True,
    )
    answer = connection.getresponse()
    assert answer.status == 413
    assert "larger than" in json.loads(answer.read())["error"]
    connection.close()
    assert nothing_counted(app)


def test_rate_limit_exhaustion_refuses_whole_batches_with_retry_after(make_demo):
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=20, INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW=3600)
    with serving(app) as server:
        alice = as_user(f"http://127.0.0.1:{server.server_port}", "alice")
        help_link = {"event": "help_link_clicked", "additional_properties": {"label": "docs"}}
        answers = [alice.post(f"{API}/track_events", json={"events": [help_link] * 8}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert all(int(a.headers["Retry-After"]) > 0 and "rate limit" in a.json()["error"] for a in answers[2:])
    with app.app_context():
        assert metric_values(current())["counts.count_total_help_link_clicked"] == 16
