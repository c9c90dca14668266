"""Whatever the collector stored, the dashboard and the collector's listings render.

Each hostile value goes in twice: sent to the collector as a tracker would,
and written straight into the store as older versions kept it.
"""

import base64
import json

import pytest

from webapp.internal_events.contexts import STANDARD_CONTEXT

from helpers import collector_headers

TP2 = "/com.snowplowanalytics.snowplow/tp2"
PAYLOAD = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
PAGES = ("/admin/metrics/", "/admin/metrics/data.json", "/micro/good", "/micro/bad", "/micro/all")

HOSTILE = {
    "a year-10000 dtm": {"dtm": "253402300800000"},
    "a lone surrogate in a label": {"se_la": "\udc80 label"},
    "NaN in se_va": {"se_va": "NaN"},
    "Infinity in se_va": {"se_va": "Infinity"},
}
# What older versions stored for the same events (json.dumps of the decoded event).
STORED = {
    "a year-10000 dtm": '{"event_id": "old-1", "action": "project_viewed", "created_at_ms": 253402300800000, '
    '"contexts": []}',
    "a lone surrogate in a label": '{"event_id": "old-2", "action": "project_viewed", "label": "\\udc80 label", '
    '"contexts": []}',
    "NaN in se_va": '{"event_id": "old-3", "action": "project_viewed", "value": NaN, "contexts": []}',
    "contexts of the wrong shape": '{"event_id": "old-4", "action": "x", "contexts": [5, {"data": 7}]}',
    "not an object": "[1, 2]",
    "not JSON": "{oops",
}


def strict_json(response):
    """The body as JSON, refusing NaN and Infinity as a browser's JSON.parse does."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def tracker_event(eid, **fields):
    standard = {
        "environment": "test",
        "source": "python",
        "user_id": "a" * 64,
        "namespace_id": 1,
        "project_id": 2,
        "context_generated_at": "2026-01-01T00:00:00Z",
    }
    contexts = {"schema": CONTEXTS, "data": [{"schema": STANDARD_CONTEXT, "data": standard}]}
    cx = base64.urlsafe_b64encode(json.dumps(contexts).encode()).decode()
    return {
        "e": "se",
        "eid": eid,
        "se_ca": "InternalEventTracking",
        "se_ac": "project_viewed",
        "dtm": "1700000000000",
        "cx": cx,
        **fields,
    }


def assert_pages_render(admin):
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 200, path
        if path != "/admin/metrics/":
            strict_json(response)
        response.get_data(as_text=True).encode("utf-8")


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_value_sent_to_the_collector_leaves_every_page_rendering(name, demo, client_for):
    sent = json.dumps({"schema": PAYLOAD, "data": [tracker_event(f"hostile-{len(name)}", **HOSTILE[name])]})
    response = demo.test_client().post(TP2, data=sent, headers=collector_headers(demo.config))
    assert response.status_code == 200
    assert_pages_render(client_for("admin"))


def test_non_finite_values_and_far_times_are_filed_as_bad(demo, client_for):
    events = [
        tracker_event("nan", se_va="NaN"),
        tracker_event("far", dtm="253402300800000"),
        tracker_event("fine", se_va="2.5", se_la="\udc80 label"),
    ]
    answer = (
        demo.test_client()
        .post(TP2, data=json.dumps({"schema": PAYLOAD, "data": events}), headers=collector_headers(demo.config))
        .get_json()
    )
    assert answer == {"good": 1, "bad": 2, "duplicates": 0}
    admin = client_for("admin")
    (good,) = strict_json(admin.get("/micro/good"))
    assert (good["value"], good["label"]) == (2.5, "\ufffd label")
    errors = sorted(e for record in strict_json(admin.get("/micro/bad")) for e in record["errors"])
    assert errors == ["dtm is after the year 9999", "se_va 'NaN' is not a finite number"]


@pytest.mark.parametrize("name", STORED)
def test_whatever_was_stored_every_page_renders(name, demo, client_for, redis_client, key_prefix):
    for kind in ("good", "bad"):
        redis_client.lpush(f"{key_prefix}{{_internal}}:collector:{kind}", STORED[name])
    admin = client_for("admin")
    assert_pages_render(admin)
    assert len(strict_json(admin.get("/micro/good"))) == 1


def test_a_lone_surrogate_is_counted_and_still_reaches_snowplow(collecting_server, live_session_for):
    """Before, Redis counted such an event and the Snowplow send failed."""
    app, _ = collecting_server
    events = app.extensions["internal_events"]
    assert events.track(
        "dashboard_chart_viewed",
        user_id=1,
        namespace_id=1,
        project_id=2,
        additional_properties={"label": "\udc80", "property": "p", "chart_weeks": "\ud800x"},
    )
    assert events.snowplow.flush(timeout=10)
    (event,) = live_session_for("admin").get("/micro/good").json()
    assert event["label"] == "\ufffd"
    standard = {c["schema"]: c["data"] for c in event["contexts"]}[STANDARD_CONTEXT]
    assert standard["extra"] == {"chart_weeks": "\ufffdx"}
    assert events.errors["snowplow"] == 0
