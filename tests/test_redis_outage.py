"""Redis stopped, stuck or missing: tracking keeps succeeding, the spool keeps the events, a replay counts them once."""

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import time_machine

from webapp import create_app
from webapp.internal_events.model import Rule
from webapp.internal_events.service_ping import metric_values
from webapp.internal_events.windows import today

from helpers import sign_in
from servers import AppServer, RedisServer, free_port, wait_until


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of its own that a test may stop and start; its data survives a restart, as in production."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


def stream(seed, batches):
    """Batches of 1 to 20 calls over unique and total metrics, with repeated ids."""
    rng = random.Random(seed)
    for _ in range(batches):
        batch = []
        for _ in range(rng.randint(1, 20)):
            event = rng.choice(["project_viewed", "project_created", "issue_created", "project_starred"])
            batch.append(
                {
                    "event": event,
                    "user_id": rng.randint(1, 300),
                    "namespace_id": rng.randint(1, 20),
                    "project_id": rng.randint(1, 80),
                }
            )
        yield batch


def total(events, event_name, day):
    return events.counters.day_total(Rule(event_name), day)


@pytest.mark.parametrize("write_behind", [False, True], ids=["synchronous", "write-behind"])
def test_redis_stopped_and_restarted_mid_stream(redis_server, make_events, write_behind):
    redis_server.start()
    events = make_events(REDIS_URL=redis_server.url, INTERNAL_EVENTS_WRITE_BEHIND=write_behind)
    reference = make_events()  # the session's Redis, which stays up
    # Each producer writes a third of its batches before the stop, a third while Redis is down and a third
    # after the restart: they wait for each step, so a slow test thread cannot let them run ahead of it.
    reached, stopped, restarted = threading.Semaphore(0), threading.Event(), threading.Event()

    def produce(seed):
        for number, batch in enumerate(stream(seed, 150)):
            if number in (50, 100):
                reached.release()
                (stopped if number == 50 else restarted).wait(60)
            reference.track_many(batch)
            events.track_many(batch)  # never raises, whatever Redis does

    producers = [threading.Thread(target=produce, args=(seed,)) for seed in (1, 2)]
    for producer in producers:
        producer.start()
    for _ in producers:
        reached.acquire()
    redis_server.stop()  # between both producers' batches
    stopped.set()
    for _ in producers:
        reached.acquire()
    assert events.flush()
    spooled = events.delivery.status()["pending"]
    redis_server.start()
    restarted.set()
    for producer in producers:
        producer.join(60)
    assert events.flush()

    # The next write after the restart wakes the replay thread: no one has to call replay.
    wait_until(lambda: events.delivery.status()["pending"] == 0, timeout=20, message="spool replayed")
    counts = events.delivery.status()
    assert spooled > 0 and counts["replayed"] >= spooled
    assert counts["dropped"] == 0
    assert metric_values(events) == metric_values(reference)
    assert metric_values(reference)["counts.count_total_project_created"] > 0


def test_unreachable_at_start_then_full_spool_drops_newest(redis_server, make_events, config, tmp_path):
    events = make_events(REDIS_URL=redis_server.url, INTERNAL_EVENTS_SPOOL_LIMIT=10)  # not started yet
    batch = [{"event": "project_created", "user_id": 1, "project_id": 2, "namespace_id": 3}] * 3
    for _ in range(4):
        assert events.track_many(batch) == [None] * 3
    events.track("project_created", user_id=4, project_id=2, namespace_id=3)

    counts = events.delivery.status()
    assert (counts["pending"], counts["dropped"], counts["batches"]) == (10, 3, 4)
    runner = create_app({**config, "REDIS_URL": redis_server.url}).test_cli_runner()
    report = runner.invoke(args=["internal-events", "status"])
    assert report.exit_code == 1
    assert '"dropped": 3' in report.output and '"reachable": false' in report.output

    failed = runner.invoke(args=["internal-events", "replay-spool"])
    assert failed.exit_code == 1 and "Connection refused" in failed.output

    redis_server.start()
    replayed = runner.invoke(args=["internal-events", "replay-spool"])
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 10 event(s); 0 pending, 3 dropped" in replayed.output
    assert total(events, "project_created", today()) == 10
    assert metric_values(events)["counts.count_total_project_created"] == 10


def test_spooled_events_count_on_the_day_they_happened(redis_server, make_events):
    events = make_events(REDIS_URL=redis_server.url)
    monday = datetime(2025, 6, 2, 23, 59, tzinfo=UTC)
    with time_machine.travel(monday, tick=False):
        for user_id in range(5):
            events.track("project_created", user_id=user_id, project_id=1, namespace_id=1)
    assert events.delivery.status()["pending"] == 5

    with time_machine.travel(monday + timedelta(minutes=5), tick=False):  # Tuesday
        redis_server.start()
        assert events.delivery.replay() == 5
        events.track("project_created", user_id=9, project_id=1, namespace_id=1)
        values = metric_values(events)
    assert total(events, "project_created", monday.date()) == 5
    assert total(events, "project_created", monday.date() + timedelta(days=1)) == 1
    assert values["counts.count_total_project_created_weekly"] == 6
    assert values["redis_hll_counters.count_distinct_user_id_from_project_created_weekly"] == 6


class SimulatedCrash(Exception):
    pass


def test_crash_between_redis_write_and_spool_delete_counts_once(redis_server, make_events, monkeypatch):
    events = make_events(REDIS_URL=redis_server.url)
    for user_id in range(7):
        events.track("project_created", user_id=user_id, project_id=1, namespace_id=1)
    redis_server.start()

    def crash(ids):
        raise SimulatedCrash("the process died after Redis took the batches")

    monkeypatch.setattr(events.delivery.spool, "remove", crash)
    with pytest.raises(SimulatedCrash):
        events.delivery.replay()
    assert total(events, "project_created", today()) == 7
    assert events.delivery.status()["pending"] == 7  # still spooled: the next replay sees them again

    monkeypatch.undo()
    assert events.delivery.replay() == 7
    assert events.delivery.status()["pending"] == 0
    assert total(events, "project_created", today()) == 7


def test_reply_lost_after_redis_applied_the_batch_counts_once(redis_server, make_events):
    """A timeout does not mean Redis did nothing: here it runs the batch after the client gave up."""
    redis_server.start()
    events = make_events(REDIS_URL=redis_server.url + "?socket_timeout=0.3")
    events.track("project_created", user_id=1, project_id=1, namespace_id=1)
    assert events.daily_pass.wait(30)  # so the batch below goes out on a connected connection
    busy = redis.Redis.from_url(redis_server.url)
    # Keeps Redis busy for a second: commands sent meanwhile wait, then run.
    blocker = threading.Thread(
        target=busy.eval,
        args=(
            "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] "
            "repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 1000000",
            0,
        ),
    )
    blocker.start()
    wait_until(lambda: _script_running(redis_server), message="busy script running")

    batch = [{"event": "project_created", "user_id": u, "project_id": 1, "namespace_id": 1} for u in range(2, 6)]
    events.track_many(batch)  # times out after 0.3 s: spooled
    blocker.join()
    busy.close()
    assert events.delivery.status()["pending"] == 4
    wait_until(lambda: total(events, "project_created", today()) == 5, message="Redis applied the batch")

    assert events.delivery.replay() == 4
    assert events.delivery.status()["pending"] == 0
    assert total(events, "project_created", today()) == 5


def _script_running(server):
    client = redis.Redis.from_url(server.url, socket_timeout=0.2)
    try:
        client.ping()
    except redis.exceptions.BusyLoadingError:
        return True
    except redis.TimeoutError:
        return True
    except redis.ResponseError as error:
        return "BUSY" in str(error)
    finally:
        client.close()
    return False


def test_something_else_answering_on_the_redis_port_spools(make_events, config):
    """A wrong port or a proxy in the way answers garbage: the events wait, they are not thrown away."""
    stranger = AppServer(create_app(config)).start()  # an HTTP server where Redis should be
    try:
        events = make_events(REDIS_URL=f"redis://127.0.0.1:{stranger.port}")
        assert events.track("project_created", user_id=1, project_id=1, namespace_id=1)
        assert events.delivery.status()["pending"] == 1
        assert not events.delivery.losses()
    finally:
        stranger.stop()


def test_an_unwritable_spool_loses_the_batch_but_never_breaks_the_caller(make_events, config):
    events = make_events(REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    spool_file = Path(config["INTERNAL_EVENTS_SPOOL_PATH"])
    spool_file.unlink()
    spool_file.mkdir()  # the file is gone and a directory stands in its way

    outcome = []
    worker = threading.Thread(
        target=lambda: outcome.append(events.track("project_created", user_id=1, project_id=1, namespace_id=1))
    )
    worker.start()  # a new thread opens its own connection to the spool, and fails
    worker.join()
    assert outcome == [True]
    assert events.delivery.losses() == {"spool_unwritable": 1}


def test_pages_that_read_counts_answer_503_without_redis(make_demo):
    app = make_demo(REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    admin = sign_in(app.test_client(), "admin")
    for path in ("/", "/acme/website"):  # pages that track an event work as usual
        assert admin.get(path).status_code == 200, path
    for path in ("/admin/", "/micro/all"):  # pages that show counts (the service ping reports -1 instead)
        response = admin.get(path)
        assert response.status_code == 503, path
        assert "Redis cannot be reached" in response.get_json()["error"]
        assert response.headers["Retry-After"] == "5"
