"""webapp.testing: the helpers host apps use to assert what their code tracked."""

import pytest

from webapp.demo.store import projects, users
from webapp.testing import tracked_total, trigger_internal_events

from helpers import csrf_token_of

IDS = {"user_id": 1, "namespace_id": 2, "project_id": 3}


def test_passes_when_exactly_the_named_events_are_tracked_with_the_ids(events):
    with trigger_internal_events(events, "project_starred", "project_starred", "help_link_clicked", user_id=1) as seen:
        events.track("project_starred", **IDS)
        events.track("project_starred", **IDS)
        events.track("help_link_clicked", user_id=1, additional_properties={"label": "docs"})
    assert [e.name for e in seen] == ["project_starred", "project_starred", "help_link_clicked"]
    assert tracked_total(events, "project_starred") == 2


@pytest.mark.parametrize(
    "names, ids, properties, message",
    [
        (
            ("project_starred", "project_starred"),
            IDS,
            None,
            r"expected events \['project_starred', 'project_starred'\]",
        ),
        ((), {}, None, r"expected events \[\], recorded \['project_starred'\]"),
        (("help_link_clicked",), {}, None, r"recorded \['project_starred'\]"),
        (("project_starred",), {**IDS, "project_id": 4}, None, "expected project_id=4, got 3"),
        (("project_starred",), {"source": "browser"}, None, "expected source='browser', got 'python'"),
        (("project_starred",), IDS, {"label": "x"}, r"expected additional_properties=\{'label': 'x'\}, got \{\}"),
    ],
)
def test_fails_naming_the_difference(events, names, ids, properties, message):
    with pytest.raises(AssertionError, match=message):
        with trigger_internal_events(events, *names, timeout=0.1, additional_properties=properties, **ids):
            events.track("project_starred", **IDS)


def test_accepts_the_flask_app_and_restores_recording_after_nesting(app):
    events = app.extensions["internal_events"]
    with trigger_internal_events(app, "project_starred", "issue_created"):
        with trigger_internal_events(app, "issue_created", project_id=3):
            events.track("issue_created", **IDS)
        events.track("project_starred", **IDS)
    assert "record" not in vars(events)
    with trigger_internal_events(app):
        pass


def test_refuses_arguments_it_would_not_check(events):
    with pytest.raises(TypeError, match="unexpected arguments: user"):
        with trigger_internal_events(events, "project_starred", user=1):
            pass


def test_asserts_what_a_request_to_the_app_tracked(demo, client_for):
    bob = client_for("bob")
    token = csrf_token_of(bob.get("/acme/website").text)
    with demo.app_context():
        bob_id = users.by_username("bob").id
        website = projects.visible_by_path(users.by_username("bob"), "acme", "website")
    with trigger_internal_events(
        demo,
        "project_starred",
        user_id=bob_id,
        namespace_id=website.namespace_id,
        project_id=website.id,
        source="python",
    ):
        assert bob.post("/acme/website/-/star", data={"csrf_token": token}).status_code == 302
