"""Forgetting a user: their events leave the collector listing and the Snowplow outbox, their id leaves the spool.

HyperLogLogs cannot forget: the spooled events of a forgotten user still count
in totals after the replay, but no longer in unique-user counts.
"""

import json

import pytest

from webapp import create_app
from webapp.collector import decode_event
from webapp.demo.store import users
from webapp.forget_user import forget_user
from webapp.internal_events.service_ping import metric_values

from helpers import keep_as_the_earlier_version, reset_collector
from servers import RedisServer, free_port, wait_until

PROJECT = {"project_id": 5, "namespace_id": 2}


def test_forget_user_removes_their_collector_events_only(collecting_server, live_session_for):
    app, _ = collecting_server
    events = app.extensions["internal_events"]
    admin = live_session_for("admin")
    reset_collector(admin)
    with app.app_context():
        bob, alice = users.by_username("bob"), users.by_username("alice")
    for user in (bob, alice, bob):
        events.track("project_viewed", user_id=user.id, **PROJECT)
    assert events.snowplow.flush(timeout=10)
    assert len(admin.get("/micro/good").json()) == 3

    result = app.test_cli_runner().invoke(args=["internal-events", "forget-user", str(bob.id)])
    assert result.exit_code == 0, result.output
    assert (
        "Removed 2 collector event(s)" in result.output
        and "from 0 spooled event(s) and 0 event(s) waiting" in result.output
        and events.privacy.pseudonym(bob.id) in result.output
    )
    left = admin.get("/micro/good").json()
    assert len(left) == 1 and events.privacy.pseudonym(alice.id) in str(left)
    assert events.privacy.pseudonym(bob.id) not in str(left)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def test_forget_user_strips_their_id_from_the_spool_and_totals_still_count(redis_server, make_events, config):
    events = make_events(REDIS_URL=redis_server.url)  # not started: events are spooled
    for user_id in (1, 2, 1):
        assert events.track("project_created", user_id=user_id, **PROJECT)
    assert events.delivery.status()["pending"] == 3

    runner = create_app({**config, "REDIS_URL": redis_server.url}).test_cli_runner()
    result = runner.invoke(args=["internal-events", "forget-user", "1"])
    assert result.exit_code == 1  # the collector listing lives in Redis: the operator is told to run it again
    assert "the user id from 2 spooled event(s)" in result.output and "Redis failed" in result.output
    spooled = [event for batch in events.delivery.spool.oldest(10) for event in batch.events]
    assert sorted(str(event.user_id) for event in spooled) == ["2", "None", "None"]

    redis_server.start()
    events.delivery.replay()  # or the replay thread does it
    wait_until(lambda: events.delivery.status()["pending"] == 0, message="the spool replayed")
    values = metric_values(events)
    assert values["counts.count_total_project_created"] == 3
    assert values["redis_hll_counters.count_distinct_user_id_from_project_created_weekly"] == 1


def test_forget_user_refuses_a_bad_id(app):
    result = app.test_cli_runner().invoke(args=["internal-events", "forget-user", "bob"])
    assert result.exit_code == 2 and "is not a valid integer" in result.output


def test_forget_user_removes_their_events_waiting_for_snowplow(make_events, config):
    events = make_events(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=f"http://127.0.0.1:{free_port()}"
    )  # nobody listens: they wait
    for user_id in (1, 2, 1):
        assert events.track("project_created", user_id=user_id, **PROJECT)
    app_id = config["INTERNAL_EVENTS_SNOWPLOW_APP_ID"]
    keep_as_the_earlier_version(events.snowplow.outbox.path, app_id, events.privacy.pseudonym(1))  # before an upgrade
    assert events.snowplow.outbox.counts()["queued"] == 4

    forgotten = forget_user(events, 1)
    assert forgotten["outbox_events"] == 3 and forgotten["pseudonym"] == events.privacy.pseudonym(1)
    (left,) = [json.loads(events.snowplow.courier.build(stored)) for _, stored in events.snowplow.outbox.oldest(10)]
    assert events.privacy.pseudonym(2) in json.dumps(decode_event(left)[0]["contexts"])
