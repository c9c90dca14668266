"""The Snowplow collector stopped and restarted on its port: every event arrives, and arrives once."""

import json

import pytest
import requests

from conftest import LiveSession, sign_in
from servers import AppServer, wait_until
from webapp.internal_events.snowplow import RetryBuffer


@pytest.fixture
def collector(demo):
    """The demo app as a Snowplow collector on a port of its own, which the test may stop and start."""
    server = AppServer(demo)
    yield server.start()
    server.stop()


@pytest.fixture
def admin(collector):
    """An administrator's session: the collector's listings are for administrators only."""
    return sign_in(LiveSession(collector.url), "admin")


def received(admin):
    return admin.get("/micro/good").json()


def test_events_tracked_while_the_collector_is_down_arrive_once(collector, admin, make_events):
    events = make_events(SNOWPLOW_COLLECTOR_URL=collector.url)
    for project_id in range(1, 11):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    assert events.snowplow.flush(timeout=10)

    collector.stop()
    for project_id in range(11, 41):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    assert not events.snowplow.flush(timeout=5)  # refused: the events wait in the buffer
    assert events.snowplow.status()["queued"] == 30

    collector.start()  # same port
    wait_until(lambda: len(received(admin)) >= 40, timeout=30, message="buffered events delivered")
    assert events.snowplow.flush(timeout=10)

    good = received(admin)
    assert sorted(event["contexts"][0]["data"]["project_id"] for event in good) == list(range(1, 41))
    assert len({event["event_id"] for event in good}) == 40
    status = events.snowplow.status()
    assert (status["queued"], status["dropped"]) == (0, 0)
    assert status["sent"] == 40 and status["failed_sends"] >= 30


def test_a_resent_batch_is_stored_once(collector, admin, make_events):
    """What a tracker does when the collector took a batch but the reply never reached it."""
    events = make_events(SNOWPLOW_COLLECTOR_URL=collector.url)
    sent = []
    events.snowplow.emitter.on_success = sent.extend  # spying: keep the payloads the tracker posted
    for project_id in range(1, 6):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    assert events.snowplow.flush(timeout=10)
    assert len(sent) == 5

    body = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": sent}
    again = requests.post(collector.url + "/com.snowplowanalytics.snowplow/tp2", data=json.dumps(body), timeout=5)
    assert again.json() == {"good": 0, "bad": 0, "duplicates": 5}
    assert len(received(admin)) == 5
    assert admin.get("/micro/all").json()["duplicates"] == 5


def test_buffer_refills_after_failures_without_losing_or_doubling():
    buffer = RetryBuffer(capacity=5)
    for eid in "abc":
        buffer.add_event({"eid": eid})
    failed = buffer.get_events_batch()
    buffer.add_event({"eid": "d"})
    buffer.cleanup(failed, need_retry=True)
    buffer.cleanup(failed[:1], need_retry=True)  # already back: not added twice
    assert [e["eid"] for e in buffer.get_events_batch()] == ["a", "b", "c", "d"]

    for eid in "vwxyz":
        buffer.add_event({"eid": eid})
    assert not buffer.add_event({"eid": "late"})
    buffer.cleanup([{"eid": "old"}], need_retry=True)  # full: the newest event gives way
    assert [e["eid"] for e in buffer.get_events_batch()] == ["old", "v", "w", "x", "y"]
    assert buffer.dropped == 2
