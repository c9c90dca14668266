"""GitLab's track_event arguments and the API's send_to_snowplow, in development (test) and production."""

import pytest

from webapp.internal_events import InvalidArgumentError
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.internal_events.service_ping import metric_values

from helpers import reset_collector, sign_in

ENVIRONMENTS = ["test", "production"]
TRACK = "/api/v4/usage_data/track_event"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
UNIQUE_USERS = "redis_hll_counters.count_distinct_user_id_from_dashboard_chart_viewed_weekly"


@pytest.fixture
def arrived(collector):
    """What the live collector received since the test started."""
    reset_collector(collector)

    def listing(sender):
        assert sender.snowplow.flush(timeout=10), "events still queued after flush"
        return collector.get("/micro/good").json()

    return listing


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_gitlab_arguments_reach_redis_and_snowplow(make_events, live_server, arrived, environment):
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server, WEBAPP_ENV=environment)
    assert events.track(
        "dashboard_chart_viewed",
        user_id=42,
        namespace_id=7,
        category="Dashboards::ChartComponent",
        feature_enabled_by_namespace_ids=[7, 8],
        label="activity",
        chart_weeks=12,
    )
    assert events.track("dashboard_chart_viewed", user_id=43, send_snowplow_event=False)
    assert metric_values(events)[UNIQUE_USERS] == 2
    (event,) = arrived(events)  # the second one was counted only
    assert (event["category"], event["label"]) == ("Dashboards::ChartComponent", "activity")
    standard = {c["schema"]: c["data"] for c in event["contexts"]}[STANDARD_CONTEXT]
    assert standard["feature_enabled_by_namespace_ids"] == [7, 8]
    assert standard["extra"] == {"chart_weeks": 12}  # a declared property passed as a keyword argument


def test_the_definition_s_category_is_the_default(make_events, live_server, arrived, definitions_dir):
    path = definitions_dir / "events" / "help_link_clicked.yml"
    path.write_text(path.read_text().replace("category: InternalEventTracking", "category: help_pages"))
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server)
    events.track("help_link_clicked", user_id=1, label="docs")
    (event,) = arrived(events)
    assert event["category"] == "help_pages"


MISTAKES = [
    ({"colour": "red"}, "unexpected argument(s) colour for event 'dashboard_chart_viewed'"),
    ({"category": 5}, "category must be a non-empty string"),
    ({"send_snowplow_event": "no"}, "send_snowplow_event must be True or False"),
    (
        {"feature_enabled_by_namespace_ids": [1, "2"]},
        "feature_enabled_by_namespace_ids must be a list of namespace ids",
    ),
    ({"label": "x", "additional_properties": {"value": 1}}, "either in additional_properties or as keyword arguments"),
]


@pytest.mark.parametrize("arguments, message", MISTAKES)
def test_a_mistaken_argument_raises_in_development(events, arguments, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        events.track("dashboard_chart_viewed", user_id=1, **arguments)
    assert metric_values(events)[UNIQUE_USERS] == 0


@pytest.mark.parametrize("arguments, message", MISTAKES)
def test_a_mistaken_argument_is_logged_and_counted_in_production(make_events, caplog, arguments, message):
    events = make_events(WEBAPP_ENV="production")
    events.track("dashboard_chart_viewed", user_id=1, **arguments)  # never raises into the caller
    assert events.errors["invalid_argument"] == 1
    assert message in caplog.text


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_api_takes_send_to_snowplow(make_demo, live_server, arrived, environment):
    app = make_demo(WEBAPP_ENV=environment, INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server)
    client = sign_in(app.test_client(), "bob")
    for send in (True, False, None):
        body = {"event": "help_link_clicked", "additional_properties": {"label": str(send)}}
        if send is not None:
            body["send_to_snowplow"] = send
        assert client.post(TRACK, json=body, headers=SAME_ORIGIN).status_code == 200
    refused = client.post(TRACK, json={"event": "help_link_clicked", "send_to_snowplow": "yes"}, headers=SAME_ORIGIN)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "'send_to_snowplow' must be true or false, got 'yes'"
    events = app.extensions["internal_events"]
    with app.app_context():
        assert metric_values(events)["counts.count_total_help_link_clicked"] == 3
    # Without the field the browser's events still reach Snowplow through the server.
    assert sorted(event["label"] for event in arrived(events)) == ["None", "True"]
