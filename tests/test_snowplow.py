"""Real Snowplow emission: snowplow-tracker posts to the app's collector, which decodes and keeps it."""

import base64
import json

import pytest
import requests
from jsonschema import Draft7Validator

from webapp.internal_events import UnknownEventError
from webapp.internal_events.contexts import SCHEMA_DIR, SERVICE_PING_CONTEXT, STANDARD_CONTEXT

from helpers import collector_headers


@pytest.fixture
def sent(make_events, live_server, collector):
    """Track with a sender aimed at a live collector; returns a function listing what arrived."""
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server)

    def arrived():
        assert events.snowplow.flush(timeout=10), "events still queued after flush"
        return collector.get("/micro/good").json()

    return events, arrived


def contexts_by_schema(event):
    return {c["schema"]: c["data"] for c in event["contexts"]}


def test_tracked_event_arrives_with_standard_and_service_ping_contexts(sent):
    events, arrived = sent
    events.track(
        "dashboard_chart_viewed",
        user_id=42,
        namespace_id=7,
        project_id=9,
        additional_properties={"label": "activity", "property": "weekly", "value": 12, "chart_weeks": 12},
    )
    (event,) = arrived()
    assert (event["category"], event["action"], event["label"], event["property"], event["value"]) == (
        "InternalEventTracking",
        "dashboard_chart_viewed",
        "activity",
        "weekly",
        12.0,
    )
    assert event["app_id"] == "internal-events-test"
    contexts = contexts_by_schema(event)
    standard = contexts[STANDARD_CONTEXT]
    assert standard["user_id"] == events.privacy.pseudonym(42)
    assert (standard["namespace_id"], standard["project_id"]) == (7, 9)
    assert (standard["environment"], standard["source"]) == ("test", "python")
    assert standard["extra"] == {"chart_weeks": 12}
    assert contexts[SERVICE_PING_CONTEXT] == {"data_source": "redis_hll", "event_name": "dashboard_chart_viewed"}
    for name, data in (("standard_context", standard), ("service_ping_context", contexts[SERVICE_PING_CONTEXT])):
        schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
        assert not list(Draft7Validator(schema).iter_errors(data))


def test_every_event_of_a_batch_arrives_once(sent):
    events, arrived = sent
    events.track_many([{"event": "admin_area_viewed", "user_id": u} for u in range(25)])
    received = arrived()
    assert len(received) == 25
    assert len({e["event_id"] for e in received}) == 25
    users = {contexts_by_schema(e)[STANDARD_CONTEXT]["user_id"] for e in received}
    assert users == {events.privacy.pseudonym(u) for u in range(25)}


def test_refused_calls_send_nothing(sent, make_events):
    events, arrived = sent
    with pytest.raises(UnknownEventError):
        events.track("no_such_event", user_id=1)
    events.track("admin_area_viewed", user_id=1)
    assert [e["action"] for e in arrived()] == ["admin_area_viewed"]


def test_collector_refuses_malformed_bodies_with_a_message(live_server, config):
    for body in (b"not json", b"[]", b'{"data": "x"}', b'{"schema": "iglu:other/x/jsonschema/1-0-0", "data": []}'):
        response = requests.post(
            f"{live_server}/com.snowplowanalytics.snowplow/tp2", data=body, timeout=5, headers=collector_headers(config)
        )
        assert response.status_code == 400
        assert "payload_data" in response.json()["error"]


def test_collector_files_events_with_invalid_contexts_as_bad(live_server, collector, config):
    contexts = {
        "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
        "data": [{"schema": STANDARD_CONTEXT, "data": {"environment": "moon"}}],
    }
    cx = base64.urlsafe_b64encode(json.dumps(contexts).encode()).decode().rstrip("=")
    payload = {
        "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [{"e": "se", "eid": "1", "se_ca": "c", "se_ac": "a", "cx": cx}, {"e": 5}],
    }
    response = requests.post(
        f"{live_server}/com.snowplowanalytics.snowplow/tp2",
        data=json.dumps(payload),
        timeout=5,
        headers=collector_headers(config),
    )
    assert response.json() == {"good": 0, "bad": 2, "duplicates": 0}
    bad = collector.get("/micro/bad").json()
    errors = " ".join(e for record in bad for e in record["errors"])
    assert "'moon' is not one of" in errors
    assert "string values" in errors
    assert collector.get("/micro/all").json() == {"total": 2, "good": 0, "bad": 2, "duplicates": 0, "received": 0}


def test_an_unreachable_collector_never_breaks_tracking(make_events):
    # Nothing listens on port 9: track() must still return at once and never raise.
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL="http://127.0.0.1:9")
    assert events.track("admin_area_viewed", user_id=1)
    assert events.snowplow.flush(timeout=3) is False
