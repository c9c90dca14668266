"""Events the server records (`extra_properties: {server_side_only: true}`) cannot be sent by browsers."""

import pytest
import yaml

from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events import current
from webapp.internal_events.definitions import load_definitions
from webapp.internal_events.model import Rule

from helpers import LiveSession, sign_in
from servers import serving

API = "/api/v4/usage_data"
# What the app's own Python code tracks (grep track_event in webapp/): the starter set marks each of them.
TRACKED_BY_THE_SERVER = {
    "admin_area_viewed",
    "project_created",
    "project_starred",
    "issue_created",
    "group_member_invited",
}


@pytest.fixture
def site(make_demo):
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=0)
    with serving(app) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        bob = sign_in(LiveSession(base), "bob")
        bob.headers.update({"Origin": base, "Sec-Fetch-Site": "same-origin"})
        yield app, bob


def totals(app, names):
    with app.app_context():
        counters = current().counters
        return {name: int(counters.redis.get(counters.keys.all_time(Rule(name))) or 0) for name in names}


@pytest.mark.parametrize("event", sorted(TRACKED_BY_THE_SERVER))
def test_bob_cannot_record_a_server_side_event_through_the_api(site, event):
    app, bob = site
    answer = bob.post(f"{API}/track_event", json={"event": event})
    assert answer.status_code == 403
    assert answer.json()["error"] == f"event '{event}' is recorded by the server only: browsers cannot send it"
    assert totals(app, [event]) == {event: 0}


def test_a_batch_refuses_server_side_events_and_keeps_the_others(site):
    app, bob = site
    answer = bob.post(
        f"{API}/track_events",
        json={
            "events": [
                {"event": "admin_area_viewed"},
                {"event": "help_link_clicked", "additional_properties": {"label": "docs"}},
            ]
        },
    )
    assert answer.status_code == 200
    refused, accepted = answer.json()["results"]
    assert (refused["accepted"], refused["status"], accepted["accepted"]) == (False, 403, True)
    assert totals(app, ["admin_area_viewed", "help_link_clicked"]) == {"admin_area_viewed": 0, "help_link_clicked": 1}


def test_the_server_still_records_them(site):
    app, bob = site
    with app.app_context():
        assert current().track("admin_area_viewed", user_id=1)
    assert totals(app, ["admin_area_viewed"]) == {"admin_area_viewed": 1}


def test_the_starter_set_marks_exactly_the_events_the_server_tracks():
    definitions = load_definitions(PROJECT_ROOT / "definitions")
    marked = {name for name, event in definitions.events.items() if event.server_side_only}
    assert marked == TRACKED_BY_THE_SERVER


def test_only_true_marks_an_event(tmp_path):
    """The field is ours: anything but `server_side_only: true` leaves the event open to browsers."""
    (tmp_path / "events").mkdir()
    (tmp_path / "metrics").mkdir()
    for name, extra in (("marked", {"server_side_only": True}), ("open", {"server_side_only": False}), ("plain", None)):
        document = {"action": name, "description": f"{name} event", "internal_events": True}
        if extra is not None:
            document["extra_properties"] = extra
        (tmp_path / "events" / f"{name}.yml").write_text(yaml.safe_dump(document))
    events = load_definitions(tmp_path).events
    assert [events[name].server_side_only for name in ("marked", "open", "plain")] == [True, False, False]


def test_the_generator_marks_a_new_server_side_event(app, definitions_dir):
    result = app.test_cli_runner().invoke(
        args=[
            "internal-events",
            "generate",
            "--event",
            "project_archived",
            "--group",
            "source_code",
            "--server-side-only",
        ]
    )
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((definitions_dir / "events" / "project_archived.yml").read_text())
    assert document["extra_properties"] == {"server_side_only": True}
    assert load_definitions(definitions_dir).events["project_archived"].server_side_only


def test_lint_warns_where_a_page_or_script_would_send_a_server_side_event(app, tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "webapp").mkdir()
    (tmp_path / "templates" / "admin.html").write_text('<p>x</p>\n<a data-event-tracking="admin_area_viewed">a</a>\n')
    (tmp_path / "webapp" / "admin.py").write_text('track_event("admin_area_viewed", user=user)\n')
    result = app.test_cli_runner().invoke(args=["internal-events", "lint", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    flagged = [line for line in result.output.splitlines() if "recorded by the server only" in line]
    assert flagged == [
        "templates/admin.html:2: warning: event 'admin_area_viewed' is recorded by the server only"
        " (extra_properties.server_side_only): the usage-data API refuses it from browsers;"
        " track it with track_event in Python"
    ]
