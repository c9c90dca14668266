"""Real Snowplow emission: snowplow-tracker posts to the app's collector, which decodes and keeps it."""

import base64
import json
import multiprocessing
import sqlite3
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from jsonschema import Draft7Validator

from webapp.internal_events import UnknownEventError
from webapp.internal_events.contexts import SCHEMA_DIR, SERVICE_PING_CONTEXT, STANDARD_CONTEXT
from webapp.internal_events.snowplow_outbox import Outbox, outbox_file
from webapp.internal_events.snowplow_record import new_event_id

from helpers import collector_headers, keep_as_the_earlier_version


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


def test_the_outbox_keeps_a_record_without_the_user_id_and_the_event_carries_its_id_and_time(sent):
    """The accepting thread keeps a compact record; the payload built later carries the id and time fixed then."""
    events, arrived = sent
    events.track("admin_area_viewed", user_id=987_654_321, namespace_id=3)
    ((_, stored),) = events.snowplow.outbox.oldest(10)
    assert "987654321" not in stored
    kept = json.loads(stored)
    assert kept["facts"]["user_id"] == events.privacy.pseudonym(987_654_321)
    assert uuid.UUID(kept["eid"]).version == 4
    assert events.snowplow.courier.build(stored) == events.snowplow.courier.build(stored)  # a repost is the same

    (event,) = arrived()
    assert (event["event_id"], event["created_at_ms"]) == (kept["eid"], kept["dtm"])
    standard = contexts_by_schema(event)[STANDARD_CONTEXT]
    accepted_at = datetime.fromtimestamp(kept["dtm"] / 1000, UTC).isoformat(timespec="milliseconds")
    assert standard["context_generated_at"] == accepted_at
    assert (standard["user_id"], standard["namespace_id"]) == (events.privacy.pseudonym(987_654_321), 3)


def test_a_row_an_earlier_version_left_in_the_outbox_is_posted_as_it_was(make_events, live_server, collector, config):
    """After an upgrade, tracker payloads still waiting are sent unchanged, before the records kept since."""
    outbox = Outbox(outbox_file(config["INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR"], live_server), limit=10)
    old = keep_as_the_earlier_version(outbox.path, config["INTERNAL_EVENTS_SNOWPLOW_APP_ID"], "ab" * 32)

    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server)
    events.track("admin_area_viewed", user_id=1)
    assert events.snowplow.flush(timeout=10)
    received = {event["event_id"]: event for event in collector.get("/micro/good").json()}
    assert len(received) == 2 and collector.get("/micro/all").json()["bad"] == 0
    earlier = received[old["eid"]]
    assert (earlier["action"], earlier["created_at_ms"], earlier["app_id"]) == (
        "project_viewed",
        int(old["dtm"]),
        old["aid"],
    )
    standard = contexts_by_schema(earlier)[STANDARD_CONTEXT]
    assert (standard["user_id"], standard["context_generated_at"]) == ("ab" * 32, "2026-11-29T10:00:00.000+00:00")


def test_an_outbox_row_nothing_can_be_built_from_is_rejected_and_counted(sent):
    """A damaged row is refused for good (counted), and cannot hold back the events behind it."""
    events, arrived = sent
    with sqlite3.connect(events.snowplow.outbox.path) as db:
        db.execute("INSERT INTO events (payload, queued_at) VALUES (?, ?)", ('{"record": 1}', time.time()))
    events.track("admin_area_viewed", user_id=1)
    assert [event["action"] for event in arrived()] == ["admin_area_viewed"]
    status = events.snowplow.status()
    assert (status["rejected"], status["delivered"], status["queued"]) == (1, 1, 0)


def _ids_of_a_child(answers):
    answers.put([new_event_id() for _ in range(1000)])


def test_event_ids_are_uuids_no_two_processes_share(tmp_path):
    """Ids are counted within a process: a forked worker (gunicorn's) must draw its own."""
    here = [new_event_id() for _ in range(1000)]
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    children = [context.Process(target=_ids_of_a_child, args=(answers,)) for _ in range(2)]
    for child in children:
        child.start()
    theirs = [answers.get(timeout=30) for _ in children]
    for child in children:
        child.join(10)
    every = here + theirs[0] + theirs[1]
    assert len(set(every)) == 3000
    assert {uuid.UUID(id).version for id in every} == {4}
    assert {str(uuid.UUID(id)) for id in every} == set(every)  # canonical text, as uuid4 gives
