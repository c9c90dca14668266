"""The Snowplow collector stopped and restarted on its port: every event arrives, and arrives once.

Events wait in the outbox on disk while the collector is down, are posted in
capped batches when it is back, and outlive the process that tracked them.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from webapp import create_app
from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events.status import status as status_of

from helpers import LiveSession, collector_headers, sign_in
from servers import AppServer, wait_until

MIB = 1024 * 1024


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


def project_ids(good):
    return sorted(event["contexts"][0]["data"]["project_id"] for event in good)


def track_projects(events, ids, label="x"):
    events.track_many(
        [
            {
                "event": "project_viewed",
                "user_id": 1,
                "namespace_id": 1,
                "project_id": i,
                "additional_properties": {"label": label},
            }
            for i in ids
        ]
    )


def test_events_tracked_while_the_collector_is_down_arrive_once(collector, admin, make_events):
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    for project_id in range(1, 11):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    assert events.snowplow.flush(timeout=10)

    collector.stop()
    for project_id in range(11, 41):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    assert not events.snowplow.flush(timeout=5)  # refused: the events wait in the outbox
    assert events.snowplow.status()["queued"] == 30

    collector.start()  # same port
    wait_until(lambda: len(received(admin)) >= 40, timeout=60, message="waiting events delivered")

    good = received(admin)
    assert project_ids(good) == list(range(1, 41))
    assert len({event["event_id"] for event in good}) == 40
    status = events.snowplow.status()
    assert (status["queued"], status["dropped"], status["rejected"]) == (0, 0, 0)
    assert status["delivered"] == 40 and status["failed_posts"] >= 1


def test_a_backlog_over_a_mebibyte_arrives_once_each_after_an_outage(collector, admin, make_events):
    """Posting the whole backlog as one body got 413 for ever past 1 MiB: batches are capped now."""
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    collector.stop()
    count = 900  # the listing keeps the newest 1,000
    for start in range(0, count, 100):
        track_projects(events, range(start + 1, start + 101), label="x" * 255)
    waiting = events.snowplow.outbox.oldest(count + 1)
    assert len(waiting) == count
    assert sum(len(events.snowplow.courier.build(stored)) for _, stored in waiting) > MIB

    collector.start()
    wait_until(lambda: events.snowplow.status()["queued"] == 0, timeout=90, message="backlog delivered")
    good = received(admin)
    assert project_ids(good) == list(range(1, count + 1))
    assert len({event["event_id"] for event in good}) == count
    assert admin.get("/micro/all").json()["duplicates"] == 0
    status = events.snowplow.status()
    assert (status["delivered"], status["dropped"], status["rejected"]) == (count, 0, 0)


def test_a_collector_that_refuses_large_bodies_gets_them_split(make_demo, make_events):
    """413 halves the batch until it fits: nothing is refused for ever, nothing is lost."""
    server = AppServer(make_demo(MAX_CONTENT_LENGTH=40_000)).start()
    try:
        events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=server.url)
        track_projects(events, range(1, 201))
        assert sum(len(events.snowplow.courier.build(s)) for _, s in events.snowplow.outbox.oldest(500)) > 4 * 40_000
        assert events.snowplow.flush(timeout=30)
        admin = sign_in(LiveSession(server.url), "admin")
        good = received(admin)
        assert project_ids(good) == list(range(1, 201))
        assert events.snowplow.status()["rejected"] == 0
    finally:
        server.stop()


def test_an_event_too_large_for_the_collector_is_rejected_and_counted(make_demo, make_events):
    server = AppServer(make_demo(MAX_CONTENT_LENGTH=1_500)).start()
    try:
        events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=server.url)
        events.track(
            "project_viewed",
            user_id=1,
            namespace_id=1,
            project_id=1,
            additional_properties={"label": "x" * 255, "property": "y" * 255},
        )
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=2)
        assert events.snowplow.flush(timeout=10)
        status = events.snowplow.status()
        assert (status["delivered"], status["rejected"], status["queued"]) == (1, 1, 0)
        assert status_of(events)["healthy"] is False
    finally:
        server.stop()


def test_sends_back_off_while_the_collector_is_down(collector, make_events):
    """Before, about 740,000 failed sends in 60 s; now each failure doubles the wait (1, 2, 4... s, at most 60)."""
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    collector.stop()
    track_projects(events, range(1, 11))
    wait_until(lambda: events.snowplow.status()["failed_posts"] >= 1, message="a first attempt")
    time.sleep(6)
    status = events.snowplow.status()
    assert 1 <= status["failed_posts"] <= 5  # at 1, about 2, 4, 8 s: at most 4 in 6 s, however late the thread runs
    assert status["retry_at"] is not None and status["queued"] == 10


def test_the_collector_token_is_required(collector, make_events):
    """A tracker with the wrong token is refused (401) and its events wait, counted as failed posts."""
    events = make_events(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url, INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN="not-the-one"
    )
    events.track("project_viewed", user_id=1, namespace_id=1, project_id=1)
    assert not events.snowplow.flush(timeout=5)
    status = events.snowplow.status()
    assert (status["queued"], status["delivered"], status["failed_posts"]) == (1, 0, 1)


def test_a_resent_batch_is_stored_once(collector, admin, make_events, config):
    """What a tracker does when the collector took a batch but the reply never reached it."""
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    for project_id in range(1, 6):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
    sent = [json.loads(events.snowplow.courier.build(stored)) for _, stored in events.snowplow.outbox.oldest(10)]
    assert events.snowplow.flush(timeout=10)

    body = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": sent}
    again = requests.post(
        collector.url + "/com.snowplowanalytics.snowplow/tp2",
        data=json.dumps(body),
        timeout=5,
        headers=collector_headers(config),
    )
    assert again.json() == {"good": 0, "bad": 0, "duplicates": 5}
    assert len(received(admin)) == 5
    assert admin.get("/micro/all").json()["duplicates"] == 5


# -- a process that ends while the collector is down --------------------------------------------------

TRACKING_SCRIPT = """
import json, os, sys, time
from webapp.internal_events.assembly import build
config, instance, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
events = build(config, instance)
for project_id in range(1, count + 1):
    events.track("project_viewed", user_id=1, namespace_id=1, project_id=project_id)
print("accepted", flush=True)
if sys.argv[4] == "wait":
    time.sleep(60)
"""


def tracking_process(script, settings, tmp_path, count, *arguments, run=subprocess.Popen, **options):
    """Another Python process tracking `count` events with `settings` (the test's instance folder)."""
    return run(
        [sys.executable, "-c", script, json.dumps(settings), str(tmp_path / "instance"), str(count), *arguments],
        cwd=PROJECT_ROOT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        **options,
    )


@pytest.mark.parametrize("ending", ["SIGKILL", "exit"])
def test_events_of_a_process_that_ended_while_the_collector_was_down_are_sent_by_the_next(
    ending, collector, admin, make_events, config, tmp_path
):
    collector.stop()
    count = 300
    settings = {**config, "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": collector.url}
    process = tracking_process(
        TRACKING_SCRIPT, settings, tmp_path, count, "wait" if ending == "SIGKILL" else "exit", stdout=subprocess.PIPE
    )
    try:
        assert process.stdout.readline().strip() == "accepted"
        if ending == "SIGKILL":
            process.send_signal(signal.SIGKILL)
        assert process.wait(30) in (0, -signal.SIGKILL)
    finally:
        process.kill()

    cli_app = create_app({**settings, "DATABASE": str(tmp_path / "cli.sqlite")})
    report = cli_app.test_cli_runner().invoke(args=["internal-events", "status"])
    cli_app.extensions["internal_events"].close()
    assert json.loads(report.output)["snowplow"]["queued"] == count  # another process sees what the dead one left

    collector.start()
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)  # the next process, same outbox
    assert events.snowplow.status()["queued"] == count
    assert events.snowplow.flush(timeout=30)
    good = received(admin)
    assert project_ids(good) == list(range(1, count + 1))
    assert len({event["event_id"] for event in good}) == count
    assert events.snowplow.status()["delivered"] == count


def test_status_shows_every_process_s_backlog(collector, make_events):
    """Two senders of one instance (two workers) see the same outbox figures."""
    first = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    second = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url)
    collector.stop()
    track_projects(first, range(1, 8))
    assert second.snowplow.status()["queued"] == 7
    assert first.snowplow.status()["outbox"] == second.snowplow.status()["outbox"]


def test_a_full_outbox_drops_and_says_so(collector, make_events, config, tmp_path):
    events = make_events(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=collector.url, INTERNAL_EVENTS_SNOWPLOW_OUTBOX_LIMIT=5)
    collector.stop()
    track_projects(events, range(1, 9))
    cli_app = create_app(
        {
            **config,
            "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": collector.url,
            "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_LIMIT": 5,
            "DATABASE": str(tmp_path / "cli.sqlite"),
        }
    )
    report = cli_app.test_cli_runner().invoke(args=["internal-events", "status"])
    cli_app.extensions["internal_events"].close()
    assert report.exit_code == 1
    snowplow = json.loads(report.output)["snowplow"]
    assert (snowplow["queued"], snowplow["dropped"]) == (5, 3)


def test_an_outbox_that_cannot_be_opened_never_stops_the_app(make_demo, config, tmp_path):
    """The outbox folder's parent is a file: the app starts, counting works, status says what is wrong."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app = make_demo(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL="http://127.0.0.1:9",
        INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR=str(blocker / "outbox"),
    )
    events = app.extensions["internal_events"]
    assert events.track("project_viewed", user_id=1, namespace_id=1, project_id=2)
    report = app.test_cli_runner().invoke(args=["internal-events", "status"])
    events.close()
    assert report.exit_code == 1
    snowplow = json.loads(report.output)["snowplow"]
    assert "NotADirectoryError" in snowplow["error"] and snowplow["unkept"] == 1


FULL_DISK_SCRIPT = """
import json, resource, sys
from webapp.internal_events.assembly import build
config, instance, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
events = build(config, instance)
limit = 96 * 1024  # files may grow no further: writes past it fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
returned = [events.track("project_viewed", user_id=1, namespace_id=1, project_id=i) for i in range(1, count + 1)]
print(json.dumps({"returned": sum(returned), "status": events.snowplow.status()}), flush=True)
"""


def test_events_the_outbox_cannot_take_on_a_full_disk_are_counted_for_every_process(collector, config, tmp_path):
    collector.stop()
    count = 300
    settings = {**config, "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": collector.url}
    done = tracking_process(
        FULL_DISK_SCRIPT, settings, tmp_path, count, run=subprocess.run, capture_output=True, timeout=120
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["returned"] == count  # tracking never broke
    assert "cannot take" in done.stderr  # and said so in the log

    cli_app = create_app({**settings, "DATABASE": str(tmp_path / "cli.sqlite")})
    report = cli_app.test_cli_runner().invoke(args=["internal-events", "status"])  # another process
    cli_app.extensions["internal_events"].close()
    snowplow = json.loads(report.output)["snowplow"]
    assert report.exit_code == 1
    assert snowplow["unkept"] > 0
    assert snowplow["unkept"] + snowplow["queued"] == count  # each event kept or counted lost
