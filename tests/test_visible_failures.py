"""Failures somebody can see: a spool on a full disk, made immutable, deleted or unwritable from the start,
a batch Redis refuses, a stalled Redis. The API never answers 200 for events it cannot keep, what is lost
is counted where every process sees it, `status` always answers, and nothing waits on a stuck Redis."""

import json
import logging
import os
import re
import resource
import subprocess
import sys
import time

import pytest
import redis
from test_crash_safety import counted_after_takeover, environment  # noqa: F401 (a fixture)

from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events import current
from webapp.internal_events.model import Rule
from webapp.internal_events.status import status

from helpers import TEST_SECRET_KEY, LiveSession, sign_in
from servers import RedisServer, gunicorn, seed_demo, wait_until

API = "/api/v4/usage_data"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
HELP = {"event": "help_link_clicked", "additional_properties": {"label": "projects"}}
BATCH = 50


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=True).start()
    yield server
    server.stop()


def immutable(*paths, on=True):
    for path in paths:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)


def post_batch(client):
    return client.post(
        f"{API}/track_events",
        data=json.dumps({"events": [HELP] * BATCH}),
        headers=SAME_ORIGIN,
        content_type="application/json",
    )


def counted(app):
    events = app.extensions["internal_events"]
    return int(events.counters.redis.get(events.counters.keys.all_time(Rule("help_link_clicked"))) or 0)


def drained(app):
    """Everything accepted written: the journal's backlog flushed, the spool replayed."""
    events = app.extensions["internal_events"]
    if not events.flush(timeout=5):
        return False
    try:
        events.delivery.replay()
    except Exception:  # Redis still starting, or the disk still full until the journal's backlog is written
        return False
    return events.delivery.status()["pending"] == 0


def test_the_api_answers_503_when_the_disk_is_full_and_every_200_counts(environment, redis_server):
    """gunicorn whose files can grow to 256 KiB (RLIMIT_FSIZE: writes past it fail with EFBIG, as on a full disk)."""
    env = {**environment, "REDIS_URL": redis_server.url}
    seed_demo(env)
    limit = 256 * 1024
    server, base = gunicorn(env, 1, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    try:
        alice = sign_in(LiveSession(base), "alice")
        alice.headers.update({"Origin": base, "Sec-Fetch-Site": "same-origin"})
        redis_server.stop()
        accepted, refused = 0, None
        for _ in range(400):
            answer = alice.post(f"{API}/track_events", json={"events": [HELP] * BATCH})
            if answer.status_code == 503:
                refused = answer
                break
            assert answer.status_code == 200
            accepted += answer.json()["accepted"]
        assert refused is not None, "the API kept answering 200 though nothing could keep the events"
        assert refused.headers["Retry-After"].isdigit() and "cannot be stored" in refused.json()["error"]
        assert accepted > 0
    finally:
        server.terminate()
        server.wait(60)
    redis_server.start()
    assert counted_after_takeover(env, "help_link_clicked") == accepted


def test_the_api_answers_503_when_the_spool_is_immutable_and_every_200_counts(make_demo, redis_server, tmp_path):
    folder = tmp_path / "spool"
    app = make_demo(
        REDIS_URL=redis_server.url,
        INTERNAL_EVENTS_WRITE_BEHIND=True,
        INTERNAL_EVENTS_SPOOL_PATH=str(folder / "internal-events-spool.sqlite3"),
    )
    alice = sign_in(app.test_client(), "alice")
    assert post_batch(alice).status_code == 200
    redis_server.stop()
    accepted, refused = BATCH, None
    for _ in range(400):
        if accepted == 5 * BATCH:
            immutable(folder, *folder.glob("internal-events-spool.sqlite3*"))
        answer = post_batch(alice)
        if answer.status_code == 503:
            refused = answer
            break
        assert answer.status_code == 200
        accepted += answer.get_json()["accepted"]
    try:
        assert refused is not None, "the API kept answering 200 though nothing could keep the events"
        assert refused.headers["Retry-After"].isdigit() and "cannot be stored" in refused.get_json()["error"]
        with app.app_context():
            report = status(current())
        assert not report["healthy"] and report["spool"]["accepting"] is False
    finally:
        immutable(folder, *folder.glob("internal-events-spool.sqlite3*"), on=False)
    redis_server.start()
    wait_until(lambda: drained(app), timeout=60, message="the backlog written")
    assert counted(app) == accepted, app.extensions["internal_events"].delivery.status()


def test_status_reports_an_immutable_spool_and_losses_seen_by_every_process(
    make_events, config, redis_server, tmp_path
):
    events = make_events(REDIS_URL=redis_server.url, WEBAPP_ENV="production")
    redis_server.stop()
    assert events.track("help_link_clicked", additional_properties={"label": "a"})  # spooled
    spool = tmp_path / "spool"
    immutable(spool, *spool.glob("*"))
    try:
        # Redis down and the spool unwritable: a Python caller goes on, the event is lost, logged and counted.
        assert events.track("help_link_clicked", additional_properties={"label": "b"}) is True
        redis_server.start()
        # The count reaches Redis with the process's next replay round.
        wait_until(lambda: _recorded_losses(events) == {b"spool_unwritable": b"1"}, timeout=15, message="loss")
        env = {
            **os.environ,
            "WEBAPP_ENV": "production",
            "SECRET_KEY": TEST_SECRET_KEY,
            "REDIS_URL": redis_server.url,
            "INTERNAL_EVENTS_KEY_PREFIX": config["INTERNAL_EVENTS_KEY_PREFIX"],
            "INTERNAL_EVENTS_SPOOL_PATH": config["INTERNAL_EVENTS_SPOOL_PATH"],
            "DATABASE_PATH": config["DATABASE"],
            "WEBAPP_INSTANCE_PATH": str(tmp_path / "instance"),
        }
        env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "webapp", "internal-events", "status"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        immutable(spool, *spool.glob("*"), on=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] is False
    assert report["spool"]["error"]
    assert report["spool"]["lost"] == {"spool_unwritable": 1}
    assert "1 event(s) lost for good: spool unwritable" in report["problems"]  # in words, as the dashboard shows it


def _recorded_losses(events):
    return events.counters.redis.hgetall(events.counters.keys.internal("losses"))


def test_a_deleted_spool_file_is_noticed_and_its_batches_survive_a_restart(make_events, redis_server, tmp_path):
    events = make_events(REDIS_URL=redis_server.url, WEBAPP_ENV="production")
    redis_server.stop()
    for label in "abc":
        assert events.track("help_link_clicked", additional_properties={"label": label})
    for file in (tmp_path / "spool").glob("internal-events-spool.sqlite3*"):
        file.unlink()
    assert events.track("help_link_clicked", additional_properties={"label": "d"})
    assert events.delivery.status()["file_replaced"] == 1
    events.close()

    redis_server.start()
    restarted = make_events(REDIS_URL=redis_server.url)
    assert restarted.delivery.replay() == 4
    assert int(restarted.counters.redis.get(restarted.counters.keys.all_time(Rule("help_link_clicked")))) == 4


def test_an_unwritable_spool_never_stops_the_app_from_starting(make_demo, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool's folder should be")
    app = make_demo(
        INTERNAL_EVENTS_WRITE_BEHIND=True, INTERNAL_EVENTS_SPOOL_PATH=str(blocker / "internal-events-spool.sqlite3")
    )
    alice = sign_in(app.test_client(), "alice")
    assert post_batch(alice).status_code == 200  # Redis is up: written before the answer, no journal needed
    assert counted(app) == BATCH
    with app.app_context():
        report = status(current())
    assert not report["healthy"]
    assert "blocker" in report["spool"]["error"] or "directory" in report["spool"]["error"]
    assert report["journal"]["error"]


def test_a_replay_failure_that_repeats_is_logged_once_not_every_round(make_events, tmp_path, caplog):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool's folder should be")
    events = make_events(INTERNAL_EVENTS_SPOOL_PATH=str(blocker / "internal-events-spool.sqlite3"))
    events.delivery.replay_interval = 0.02
    caplog.set_level(logging.ERROR, logger="webapp.internal_events.delivery")
    assert events.track("help_link_clicked", additional_properties={"label": "a"})  # starts the replay thread
    failed = "Replaying the internal events spool failed"
    wait_until(lambda: any(failed in record.getMessage() for record in caplog.records), message="the first failure")
    time.sleep(0.5)  # about 25 more rounds fail the same way
    assert sum(record.getMessage().startswith(failed) for record in caplog.records) == 1


def test_a_batch_redis_refuses_is_quarantined_not_replayed_for_ever(make_events, redis_server):
    events = make_events(REDIS_URL=redis_server.url)
    redis_server.stop()
    assert events.track("help_link_clicked", additional_properties={"label": "a"})
    assert events.track("project_starred", user_id=1, project_id=1)
    redis_server.start()
    # The event's all-time total is not a number any more: Redis refuses every write to it.
    events.counters.redis.set(events.counters.keys.all_time(Rule("help_link_clicked")), "not a number")

    assert events.delivery.replay() == 1  # the other batch goes through
    assert events.delivery.replay() == 0  # the refused one is not tried again
    counts = events.delivery.status()
    assert (counts["pending"], counts["quarantined"]) == (0, 1)
    assert int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_starred")))) == 1


def test_a_stalled_redis_does_not_stall_api_requests(make_demo, redis_server):
    app = make_demo(REDIS_URL=redis_server.url, INTERNAL_EVENTS_WRITE_BEHIND=True)
    alice = sign_in(app.test_client(), "alice")
    single = json.dumps(HELP)
    assert (
        alice.post(f"{API}/track_event", data=single, headers=SAME_ORIGIN, content_type="application/json").status_code
        == 200
    )
    redis.Redis(port=redis_server.port).execute_command("CLIENT", "PAUSE", 3000)
    slowest = 0.0
    for _ in range(40):  # several of the rate limit's blocks
        start = time.perf_counter()
        answer = alice.post(f"{API}/track_event", data=single, headers=SAME_ORIGIN, content_type="application/json")
        slowest = max(slowest, time.perf_counter() - start)
        assert answer.status_code == 200
    # The Redis client's socket timeout is 1 s: no request waited it out.
    assert slowest < 0.5
    wait_until(lambda: drained(app), timeout=30, message="the backlog written")
    assert counted(app) == 41


def test_a_writer_whose_batch_was_spooled_never_writes_to_redis_again(make_events, redis_server):
    """Else Redis would mark its later number applied, and the replay would skip the spooled batch."""
    events = make_events(REDIS_URL=redis_server.url, INTERNAL_EVENTS_WRITE_BEHIND=True)
    redis_server.stop()
    for label in ("a", "b"):  # the first fails on Redis, the second goes straight to the spool
        assert events.track("help_link_clicked", additional_properties={"label": label})
        assert events.flush()
    redis_server.start()
    retry_after = events.delivery.retry_after
    events.delivery.clock = lambda: time.monotonic() + retry_after  # its cool-down is over, without waiting it out
    assert events.track("help_link_clicked", additional_properties={"label": "c"})
    assert events.flush()
    total = events.counters.keys.all_time(Rule("help_link_clicked"))
    # The replay thread may be the one replaying: wait for it, and check nothing more arrives.
    wait_until(lambda: events.delivery.replay() == 0 and events.delivery.status()["pending"] == 0, timeout=20)
    assert int(events.counters.redis.get(total)) == 3


CRASHING_REPLAY = """
import os, signal
from webapp import create_app
from webapp.internal_events import current
from webapp.internal_events.delivery import CounterDelivery

plan = CounterDelivery._write_batch

def crashing_plan(self, definitions, events, day):
    if any(event.properties.get("label") == "poison" for event in events):
        os.kill(os.getpid(), signal.SIGSEGV)  # as a client library bug would
    return plan(self, definitions, events, day)

CounterDelivery._write_batch = crashing_plan
with create_app().app_context():
    print(current().delivery.replay())
"""


def test_a_batch_that_kills_every_replay_is_quarantined_after_three(make_events, redis_server, environment):
    events = make_events(
        REDIS_URL=redis_server.url,
        INTERNAL_EVENTS_SPOOL_PATH=environment["INTERNAL_EVENTS_SPOOL_PATH"],
        INTERNAL_EVENTS_KEY_PREFIX=environment["INTERNAL_EVENTS_KEY_PREFIX"],
    )
    redis_server.stop()
    for label in ("good", "poison", "good"):
        assert events.track("help_link_clicked", additional_properties={"label": label})
    events.close()
    redis_server.start()
    runs = []
    for _ in range(5):
        run = subprocess.run(
            [sys.executable, "-c", CRASHING_REPLAY],
            env={**environment, "REDIS_URL": redis_server.url},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        runs.append(run.returncode)
        if run.returncode == 0:
            break
    assert runs == [-11, -11, -11, 0]
    counts = events.delivery.status()
    assert (counts["pending"], counts["quarantined"], counts["replayed"]) == (0, 1, 2)
    assert int(events.counters.redis.get(events.counters.keys.all_time(Rule("help_link_clicked")))) == 2


def test_a_real_loss_shows_on_the_admin_dashboard_and_its_live_update(make_demo, redis_server):
    app = make_demo(REDIS_URL=redis_server.url)
    events = app.extensions["internal_events"]
    admin = sign_in(app.test_client(), "admin")
    assert "Nothing lost" in admin.get("/admin/metrics/").get_data(as_text=True)

    redis_server.stop()
    assert events.track("help_link_clicked", user_id=1, additional_properties={"label": "a"})  # spooled
    redis_server.start()
    # The event's all-time total is not a number any more: Redis refuses the batch, which is quarantined.
    events.counters.redis.set(events.counters.keys.all_time(Rule("help_link_clicked")), "not a number")
    assert events.delivery.replay() == 0

    page = admin.get("/admin/metrics/").get_data(as_text=True)
    alert = page[page.index('class="delivery-alert" role="alert"') :]
    assert "1 event(s) quarantined" in alert[: alert.index("</div>")] and "Nothing lost" not in page
    update = admin.get("/admin/metrics/data.json").get_json()["regions"]["delivery-health"]
    assert "1 event(s) quarantined" in update and re.search(r"<dt>Quarantined</dt><dd>1</dd>", update)


def test_with_redis_down_the_overview_s_live_update_says_so_in_its_delivery_panel(make_demo, redis_server):
    app = make_demo(REDIS_URL=redis_server.url)
    admin = sign_in(app.test_client(), "admin")
    assert admin.get("/admin/metrics/data.json").status_code == 200

    redis_server.stop()
    answer = admin.get("/admin/metrics/data.json")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    body = answer.get_json()
    assert "Redis cannot be reached" in body["error"] and set(body["regions"]) == {"delivery-health"}
    panel = body["regions"]["delivery-health"]
    assert re.search(r"<dt>Redis</dt><dd>unreachable</dd>", panel) and "Redis cannot be reached" in panel
    assert admin.get("/admin/metrics/", headers={"Accept": "text/html"}).status_code == 503  # the page: its 503

    redis_server.start()
    panel = admin.get("/admin/metrics/data.json").get_json()["regions"]["delivery-health"]
    assert re.search(r"<dt>Redis</dt><dd>reachable</dd>", panel)
