"""The usage-data API over real HTTP, with the app as its own Snowplow collector (as in development).

Checks both ends: the Redis counters and what the collector received.
"""

import json

import pytest

from webapp.demo.store import projects, users
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.internal_events.service_ping import metric_values

from helpers import LiveSession, csrf_token_of

HLL, COUNTS = "redis_hll_counters.", "counts."


@pytest.fixture
def site(collecting_server, live_session_for):
    """(app, base URL, admin session, arrived()); the collector starts empty (its keys are the test's)."""
    app, base = collecting_server
    admin = live_session_for("admin")

    def arrived():
        assert app.extensions["internal_events"].snowplow.flush(timeout=10), "events still queued after flush"
        return admin.get("/micro/good").json()

    return app, base, admin, arrived


def lookup(app, full_path=None, username=None):
    with app.app_context():
        if username:
            return users.by_username(username)
        return projects.visible_by_path(users.by_username("admin"), *full_path.split("/"))


def counted(app):
    with app.app_context():
        return metric_values(app.extensions["internal_events"])


def beacon(session, base, body, **headers):
    """What navigator.sendBeacon sends: a text/plain string body with the browser's own headers."""
    return session.post(
        "/api/v4/usage_data/track_events",
        data=json.dumps(body),
        headers={
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": base,
            "Sec-Fetch-Site": "same-origin",
            **headers,
        },
    )


def standard(event):
    return next(c["data"] for c in event["contexts"] if c["schema"] == STANDARD_CONTEXT)


def test_browser_events_are_counted_and_reach_snowplow_as_browser_events(site, live_session_for):
    app, base, _, arrived = site
    website, bob = lookup(app, "acme/website"), lookup(app, username="bob")
    response = beacon(
        live_session_for("bob"),
        base,
        {
            "events": [
                {"event": "project_viewed", "project_id": website.id},
                {
                    "event": "clone_button_clicked",
                    "project_id": website.id,
                    "namespace_id": website.namespace_id,
                    "additional_properties": {"label": "ssh"},
                },
                {
                    "event": "dashboard_chart_viewed",
                    "project_id": website.id,
                    "additional_properties": {"label": "project_activity", "chart_weeks": 12},
                },
                {"event": "no_such_event"},
            ]
        },
    )
    assert response.status_code == 200
    assert [r["accepted"] for r in response.json()["results"]] == [True, True, True, False]

    values = counted(app)
    assert values[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 1
    assert values[COUNTS + "count_total_clone_button_clicked_with_ssh"] == 1
    assert values[HLL + "count_distinct_user_id_from_dashboard_chart_viewed_weekly"] == 1

    received = {e["action"]: e for e in arrived()}
    assert sorted(received) == ["clone_button_clicked", "dashboard_chart_viewed", "project_viewed"]
    for event in received.values():
        context = standard(event)
        assert context["source"] == "browser"
        assert context["user_id"] == app.extensions["internal_events"].privacy.pseudonym(bob.id)
        # The project's namespace is filled in when the client sends only project_id.
        assert (context["namespace_id"], context["project_id"]) == (website.namespace_id, website.id)
        assert context["plan"] == "premium"
    assert received["clone_button_clicked"]["label"] == "ssh"
    assert standard(received["dashboard_chart_viewed"])["extra"] == {"chart_weeks": 12}


def test_a_forged_private_project_counts_and_sends_nothing(site, live_session_for):
    app, base, _, arrived = site
    prototype = lookup(app, "secret-lab/prototype")  # alice's private group; bob is no member
    response = beacon(
        live_session_for("bob"),
        base,
        {
            "events": [
                {"event": "project_viewed", "project_id": prototype.id},
                {
                    "event": "project_viewed",
                    "project_id": lookup(app, "acme/website").id,
                    "namespace_id": prototype.namespace_id,
                },
            ]
        },
    )
    assert [(r["accepted"], r["status"]) for r in response.json()["results"]] == [(False, 404), (False, 400)]
    assert not any(counted(app).values())
    assert arrived() == []


def test_a_cross_origin_request_with_the_users_cookie_counts_and_sends_nothing(site, live_session_for):
    app, base, _, arrived = site
    bob = live_session_for("bob")
    event = {"event": "project_viewed", "project_id": lookup(app, "acme/website").id}
    for headers in (
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
    ):
        response = beacon(bob, base, {"events": [event]}, **headers)
        assert response.status_code == 403
        assert "refused" in response.json()["error"]
    assert not any(counted(app).values())
    assert arrived() == []


def test_signed_out_beacons_get_401_and_send_nothing(site):
    app, base, _, arrived = site
    response = beacon(LiveSession(base), base, {"events": [{"event": "admin_area_viewed"}]})
    assert response.status_code == 401
    assert arrived() == []


def test_server_side_actions_reach_snowplow_as_python_events(site, live_session_for):
    app, base, _, arrived = site
    bob = live_session_for("bob")
    page = bob.get("/acme/website")
    assert bob.post("/acme/website/-/star", data={"csrf_token": csrf_token_of(page.text)}).status_code == 302
    (event,) = arrived()
    assert event["action"] == "project_starred"
    context = standard(event)
    assert context["source"] == "python"
    website = lookup(app, "acme/website")
    assert (context["namespace_id"], context["project_id"]) == (website.namespace_id, website.id)
    assert counted(app)[COUNTS + "count_total_project_starred"] == 1
