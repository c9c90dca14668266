"""Accepted means durable: a process that dies right after accepting events (SIGKILL, os._exit, an unhandled
SIGTERM, a multiprocessing child) or a gunicorn worker killed under load loses none of them, and counts none twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest
import requests

from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import Rule

from helpers import TEST_SECRET_KEY, LiveSession, sign_in
from servers import gunicorn, seed_demo, wait_until, workers_of

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
        "INTERNAL_EVENTS_WRITE_BEHIND": "1",
        "DATABASE_PATH": str(tmp_path / "webapp.sqlite"),
        "WEBAPP_INSTANCE_PATH": str(tmp_path),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": "0",
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    return env


def counted_after_takeover(env, event):
    """The event's all-time total once a new process has taken over what dead ones left (as any would)."""
    events = build(from_environment(env), env["WEBAPP_INSTANCE_PATH"])
    try:
        events.delivery.replay()
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


# -- gunicorn --------------------------------------------------------------------------------------

WORKERS = 3
KILLS = 3
EVENT = {"event": "project_viewed"}


@pytest.fixture
def served(environment):
    seed_demo(environment)
    server, base = gunicorn(environment, WORKERS)
    try:
        yield server, base
    finally:
        server.terminate()
        server.wait(60)


def test_killing_gunicorn_workers_under_load_loses_no_accepted_event(served, environment):
    server, base = served
    event = {**EVENT, "project_id": _website_id(environment["DATABASE_PATH"])}
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

    counted = counted_after_takeover(environment, "project_viewed")
    assert tally.keys() == {"accepted", "unanswered"}, tally  # no error answers
    assert tally["accepted"] > 500
    assert tally["accepted"] <= counted <= tally["accepted"] + tally["unanswered"], tally


def _same_origin(session):
    session.headers.update({"Origin": session.base, "Sec-Fetch-Site": "same-origin"})
    return session


def _website_id(database):
    with closing(sqlite3.connect(database)) as db:
        return db.execute(
            "SELECT p.id FROM projects p JOIN namespaces n ON n.id = p.namespace_id"
            " WHERE n.path = 'acme' AND p.path = 'website'"
        ).fetchone()[0]
