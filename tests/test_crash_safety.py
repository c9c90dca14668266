"""Accepted means durable: a process that dies right after accepting events (SIGKILL, os._exit, an unhandled
SIGTERM, a multiprocessing child) or a gunicorn worker killed under load loses none of them, and counts none twice."""

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import redis
import requests
from test_collector_outage import collector  # noqa: F401 (a fixture: the demo app as the collector)

from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.keys import KeySpace
from webapp.internal_events.model import Rule
from webapp.internal_events.settings import collector_token
from webapp.internal_events.writer import RETRY_AFTER

from helpers import TEST_SECRET_KEY, LiveSession, sign_in, website_id
from servers import free_port, gunicorn, seed_demo, wait_until, workers_of

EVENTS = 20_000
TRACK = f"""
import multiprocessing, os, signal, sys, time
from webapp.internal_events import track_event

def track():
    for user in range({EVENTS}):
        track_event("project_starred", user_id=user, project_id=1)

how = sys.argv[1]
if how == "multiprocessing child":
    child = multiprocessing.get_context("fork").Process(target=track)
    child.start()
    child.join()
    print("tracked", flush=True)
    os._exit(0)
track()
print("tracked", flush=True)
if how == "os._exit":
    os._exit(0)
time.sleep(60)  # killed here, after every call returned
"""


@pytest.fixture
def environment(redis_url, key_prefix, definitions_dir, tmp_path):
    """Production settings (write-behind) for processes configured only by the environment."""
    env = {
        **os.environ,
        "WEBAPP_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "REDIS_URL": redis_url,
        "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
        "INTERNAL_EVENTS_DEFINITIONS": str(definitions_dir),
        "INTERNAL_EVENTS_SPOOL_PATH": str(tmp_path / "spool" / "internal-events-spool.sqlite3"),
        "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR": str(tmp_path / "snowplow-outbox"),
        "INTERNAL_EVENTS_WRITE_BEHIND": "1",
        "DATABASE_PATH": str(tmp_path / "webapp.sqlite"),
        "WEBAPP_INSTANCE_PATH": str(tmp_path),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": "0",
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    return env


def counted_after_takeover(env, event, send_snowplow=False):
    """The event's all-time total once a new process has taken over what dead ones left (as any would);
    with `send_snowplow`, once it has also posted every Snowplow event waiting."""
    events = build(from_environment(env), env["WEBAPP_INSTANCE_PATH"])
    try:
        events.delivery.replay()
        if send_snowplow:
            assert events.snowplow.flush(timeout=60)
        return int(events.counters.redis.get(events.counters.keys.all_time(Rule(event))) or 0)
    finally:
        events.close()


@pytest.mark.parametrize("how", ["SIGKILL", "unhandled SIGTERM", "os._exit", "multiprocessing child"])
def test_a_process_dying_after_track_event_returned_loses_nothing(environment, how):
    process = subprocess.Popen(
        [sys.executable, "-c", TRACK, how], env=environment, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "tracked\n"
        if how in ("SIGKILL", "unhandled SIGTERM"):
            process.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
    finally:
        process.wait(30)
    assert process.returncode != 0 or how in ("os._exit", "multiprocessing child")
    assert counted_after_takeover(environment, "project_starred") == EVENTS


def test_a_process_killed_while_tracking_counts_every_returned_call_once(environment):
    """Killed mid-stream, in or out of a Redis write: each call that returned counts once, the next at most once."""
    script = (
        "import sys\nfrom webapp.internal_events import track_event\n"
        "for user in range(10**6):\n"
        "    track_event('project_starred', user_id=user, project_id=1)\n"
        "    sys.stdout.write(f'{user}\\n')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=environment, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    returned = 0
    while returned < 30_000:
        assert process.stdout.readline()
        returned += 1
    process.kill()
    returned += sum(1 for line in process.stdout if line.endswith("\n"))  # written before the kill
    process.wait(30)
    assert returned <= counted_after_takeover(environment, "project_starred") <= returned + 1


def test_a_takeover_repeated_after_it_died_queues_each_snowplow_event_once(environment, tmp_path):
    """The journal of a process killed after 20,000 calls is taken over, then brought back as if that takeover had
    died before deleting it, and taken over again: each event is counted and waits for Snowplow once."""
    env = {
        **environment,
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": f"http://127.0.0.1:{free_port()}",  # down: events wait
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN": "t" * 32,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", TRACK, "SIGKILL"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "tracked\n"
        process.kill()
    finally:
        process.wait(30)
    journals = Path(env["INTERNAL_EVENTS_SPOOL_PATH"]).with_name("internal-events-journal")
    left = {path.name: path.read_bytes() for path in journals.iterdir()}
    assert any(name.endswith(".journal") and data for name, data in left.items())

    events = build(from_environment(env), env["WEBAPP_INSTANCE_PATH"])
    try:
        events.delivery.replay()
        assert not list(journals.iterdir())
        for name, data in left.items():
            (journals / name).write_bytes(data)
        events.delivery.replay()
        assert not list(journals.iterdir())
        assert int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_starred")))) == EVENTS
        assert events.snowplow.status()["queued"] == EVENTS
    finally:
        events.close()


DIE_BEFORE_WRITING = """
import os, signal, sys, time
from flask import Flask
from webapp.demo.config import from_environment
from webapp.internal_events.assembly import build

events = build(from_environment(os.environ), os.environ["WEBAPP_INSTANCE_PATH"])
events.writer.journal.writing = lambda *batch: os.kill(os.getpid(), signal.SIGKILL)  # dies as its batch begins
calls = [{"event": "project_starred", "user_id": user, "project_id": 1} for user in range(1000)]
with Flask("page").test_request_context(headers={"Sec-GPC": "1"} if sys.argv[1] == "gpc" else {}):
    events.track_many(calls)
print("tracked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(
    ("withheld_by", "queued"), [("nothing", 1000), ("gpc", 0), ("the switch, off at the takeover", 0)]
)
def test_snowplow_copies_taken_over_respect_privacy_signals_and_the_switch(environment, withheld_by, queued):
    """Events accepted in a request with a privacy signal (GPC), or taken over while the operator's `snowplow`
    switch is off, are counted and never queued for Snowplow by the takeover."""
    env = {
        **environment,
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": f"http://127.0.0.1:{free_port()}",  # down: events wait
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN": "t" * 32,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", DIE_BEFORE_WRITING, withheld_by], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE
    )
    process.wait(30)
    assert process.returncode == -signal.SIGKILL
    if withheld_by.startswith("the switch"):
        env["INTERNAL_EVENTS_SNOWPLOW"] = "0"
    events = build(from_environment(env), env["WEBAPP_INSTANCE_PATH"])
    try:
        events.delivery.replay()
        assert int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_starred")))) == 1000
        assert events.snowplow.status()["queued"] == queued
    finally:
        events.close()


DISK_FULL_AT_BATCH = """
import os, resource, signal, sys, time
from webapp.demo.config import from_environment
from webapp.internal_events.assembly import build

events = build(from_environment(os.environ), os.environ["WEBAPP_INSTANCE_PATH"])
journal = events.writer.journal
note_batch = journal.writing

def disk_full_then_note_batch(*batch):
    # From now on the journal's files cannot grow past `room` (EFBIG, as on a full disk).
    room = {"journal": max(path.stat().st_size for path in journal.folder.glob("*.journal")), "nothing": 0}
    resource.setrlimit(resource.RLIMIT_FSIZE, (room[sys.argv[1]], resource.RLIM_INFINITY))
    note_batch(*batch)

def die(last):  # the batch is in Redis: the process dies before noting it done
    os.kill(os.getpid(), signal.SIGKILL)

journal.writing, journal.done = disk_full_then_note_batch, die
events.track_many([{"event": "project_starred", "user_id": user, "project_id": 1} for user in range(50)])
print("tracked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("room", ["journal", "nothing"])
def test_a_crash_on_a_full_disk_after_a_batch_was_written_counts_it_once(environment, room):
    """The batch's line does not fit in the full journal: its writer and number go to the progress file written
    in place, so the takeover knows Redis may have it. With no room at all, the batch waits unwritten."""
    process = subprocess.Popen(
        [sys.executable, "-c", DISK_FULL_AT_BATCH, room],
        env=environment,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "tracked\n"
        if room == "nothing":
            time.sleep(2 * RETRY_AFTER)  # the writer tries again each second, and never writes
            assert counted_now(environment, "project_starred") == 0
            process.kill()
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    assert counted_after_takeover(environment, "project_starred") == 50


def counted_now(env, event):
    """The event's all-time total as it stands, read without taking anything over."""
    with closing(redis.Redis.from_url(env["REDIS_URL"])) as client:
        return int(client.get(KeySpace(env["INTERNAL_EVENTS_KEY_PREFIX"]).all_time(Rule(event))) or 0)


# -- gunicorn --------------------------------------------------------------------------------------

WORKERS = 3
KILLS = 3
EVENT = {"event": "project_viewed"}


@pytest.fixture
def serve(environment):
    """Start gunicorn with `environment` and extra settings, on the seeded demo data; stopped after the test."""
    seed_demo(environment)
    started = []

    def start(**settings):
        started.append(gunicorn({**environment, **settings}, WORKERS))
        return started[-1]

    yield start
    for server, _ in started:
        server.terminate()
        server.wait(60)


def test_killing_gunicorn_workers_under_load_loses_no_accepted_event(serve, environment):
    server, base = serve()
    tally = kill_workers_under_load(server, base, environment)
    counted = counted_after_takeover(environment, "project_viewed")
    assert tally["accepted"] <= counted <= tally["accepted"] + tally["unanswered"], tally


def test_killing_gunicorn_workers_under_load_sends_every_counted_event_to_snowplow_once(serve, environment, collector):
    """What a killed worker had accepted but not yet written reaches the collector through the takeover, once."""
    snowplow = {
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": collector.url,
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN": collector_token(collector.app.config),
    }
    server, base = serve(**snowplow)
    tally = kill_workers_under_load(server, base, environment)
    env = {**environment, **snowplow}
    counted = counted_after_takeover(env, "project_viewed", send_snowplow=True)
    assert tally["accepted"] <= counted <= tally["accepted"] + tally["unanswered"], tally
    stored = sign_in(LiveSession(collector.url), "admin").get("/micro/all").json()
    assert stored["received"] == counted, (stored, tally)  # every counted event stored by the collector, once


def kill_workers_under_load(server, base, environment):
    """SIGKILL a worker KILLS times while six clients send single and batched events; the clients' tally once
    gunicorn has stopped: events accepted (200) and unanswered (cut off by a kill: they may or may not count)."""
    event = {**EVENT, "project_id": website_id(environment["DATABASE_PATH"])}
    sessions = [_same_origin(sign_in(LiveSession(base), name)) for name in ("alice", "bob", "admin")]
    tally, lock, stop = {"accepted": 0, "unanswered": 0}, threading.Lock(), threading.Event()

    def load(session, size):
        while not stop.is_set():
            try:
                answer = session.post("/api/v4/usage_data/track_events", json={"events": [event] * size})
            except requests.RequestException:  # the worker died with the request: it may or may not count
                outcome, count = "unanswered", size
            else:
                outcome, count = ("accepted", answer.json()["accepted"]) if answer.ok else (answer.status_code, 1)
            with lock:
                tally[outcome] = tally.get(outcome, 0) + count

    clients = [threading.Thread(target=load, args=(session, size)) for session in sessions for size in (1, 7)]
    for client in clients:
        client.start()
    try:
        for _ in range(KILLS):
            time.sleep(1.0)
            before = tally["accepted"]
            wait_until(lambda: tally["accepted"] > before + 200, timeout=30, message="load")
            victim = workers_of(server.pid)[0]
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda: victim not in workers_of(server.pid) and len(workers_of(server.pid)) == WORKERS,
                timeout=60,
                message="a new worker",
            )
        time.sleep(1.0)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    assert not any(client.is_alive() for client in clients)
    server.terminate()
    server.wait(60)
    assert tally.keys() == {"accepted", "unanswered"}, tally  # no error answers
    assert tally["accepted"] > 500
    return tally


def _same_origin(session):
    session.headers.update({"Origin": session.base, "Sec-Fetch-Site": "same-origin"})
    return session
