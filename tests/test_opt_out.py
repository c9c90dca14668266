"""Per-user opt-out: a signed-in person turns off event-level analytics about them on the privacy page.

From then on no Snowplow event carries their pseudonym, whichever way it was
tracked; their events still count in the aggregate metrics.
"""

import json
import shutil
import sqlite3
from contextlib import closing

from webapp import create_app
from webapp.demo.store import projects, users
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.internal_events.tracker import WITHHELD_KEY
from webapp.testing import tracked_total

from helpers import csrf_token_of, reset_collector, sign_in

SETTINGS = "/users/settings/privacy"


def choose(session, choice):
    page = session.get(SETTINGS)
    assert page.status_code == 200
    return session.post(SETTINGS, data={"csrf_token": csrf_token_of(page.text), "event_level_analytics": choice})


def senders(admin, app):
    """The pseudonyms of the events the collector received."""
    assert app.extensions["internal_events"].snowplow.flush(timeout=10)
    return sorted(
        next(c["data"]["user_id"] for c in event["contexts"] if c["schema"] == STANDARD_CONTEXT)
        for event in admin.get("/micro/good").json()
    )


def act(session, base, project_id):
    """An API event (as a beacon) and a server-side track_event (viewing the admin area is not for bob: star)."""
    answer = session.post(
        "/api/v4/usage_data/track_events",
        data=json.dumps({"events": [{"event": "project_viewed", "project_id": project_id}]}),
        headers={"Content-Type": "text/plain", "Origin": base, "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 200
    page = session.get("/acme/website")
    assert session.post("/acme/website/-/star", data={"csrf_token": csrf_token_of(page.text)}).status_code == 302


def test_an_opted_out_user_sends_nothing_to_snowplow_and_still_counts(collecting_server, live_session_for):
    app, base = collecting_server
    privacy = app.extensions["internal_events"].privacy
    with app.app_context():
        bob, alice = users.by_username("bob"), users.by_username("alice")
        website = projects.visible_by_path(bob, "acme", "website")
    admin = live_session_for("admin")
    reset_collector(admin)
    bob_session, alice_session = live_session_for("bob"), live_session_for("alice")

    assert choose(bob_session, "off").status_code == 302
    assert 'value="off" checked' in bob_session.get(SETTINGS).text
    act(bob_session, base, website.id)
    act(alice_session, base, website.id)
    app.extensions["internal_events"].track(
        "project_created", user_id=bob.id, project_id=website.id, namespace_id=website.namespace_id
    )  # outside any request
    assert tracked_total(app, "project_viewed") == 2 and tracked_total(app, "project_created") == 1
    assert senders(admin, app) == [privacy.pseudonym(alice.id)] * 2

    assert choose(bob_session, "on").status_code == 302
    reset_collector(admin)
    act(bob_session, base, website.id)  # the star toggles off: only the view is an event
    assert senders(admin, app) == [privacy.pseudonym(bob.id)]


def test_the_settings_page_needs_a_signed_in_user_and_a_known_choice(demo):
    visitor = demo.test_client()
    assert visitor.get(SETTINGS).status_code == 302
    bob = sign_in(demo.test_client(), "bob")
    page = bob.get(SETTINGS).get_data(as_text=True)
    answer = bob.post(SETTINGS, data={"csrf_token": csrf_token_of(page), "event_level_analytics": "maybe"})
    assert answer.status_code == 400 and "'on' or 'off'" in answer.get_json()["error"]
    assert 'value="on" checked' in bob.get(SETTINGS).get_data(as_text=True)


def test_unreadable_opt_outs_send_nothing_personal_and_are_counted(
    make_events, live_server, collector, tmp_path, redis_client
):
    not_a_database = tmp_path / "broken.sqlite"
    not_a_database.mkdir()  # a directory where the database should be: every read fails
    events = make_events(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server, INTERNAL_EVENTS_OPT_OUTS_PATH=str(not_a_database)
    )
    reset_collector(collector)
    events.track("admin_area_viewed", user_id=1)
    events.track("project_viewed", project_id=3, namespace_id=2, strict=False)  # no user: nothing to withhold
    assert events.snowplow.flush(timeout=10)
    assert [e["action"] for e in collector.get("/micro/good").json()] == ["project_viewed"]
    assert tracked_total(events, "admin_area_viewed") == 1
    assert int(redis_client.get(events.counters.keys.internal(WITHHELD_KEY))) == 1


def test_opt_outs_an_earlier_release_kept_in_the_demos_database_still_hold(config, demo_database, tmp_path):
    """They lived in the demo's database; the demo moves them to the extension's own file when it starts."""
    database = tmp_path / "earlier.sqlite"
    shutil.copyfile(demo_database, database)
    with closing(sqlite3.connect(database)) as earlier, earlier:
        earlier.execute("CREATE TABLE event_level_opt_outs (user_id INTEGER PRIMARY KEY, opted_out_at TEXT NOT NULL)")
        earlier.execute("INSERT INTO event_level_opt_outs VALUES (5, '2026-01-01T00:00:00+00:00')")
    for _ in range(2):  # a second start finds nothing left to move and loses nothing
        app = create_app({**config, "DATABASE": str(database)})
        try:
            opt_outs = app.extensions["internal_events"].privacy.opt_outs
            assert opt_outs.has_opted_out(5) and not opt_outs.has_opted_out(6)
        finally:
            app.extensions["internal_events"].close()
    with closing(sqlite3.connect(database)) as moved:
        assert not moved.execute("SELECT name FROM sqlite_master WHERE name = 'event_level_opt_outs'").fetchall()
