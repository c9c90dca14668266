"""`make serve`: gunicorn worker processes share nothing in memory, yet every event counts once and the rate limit holds."""

import gc
import os
import runpy
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from webapp.api.rate_limit import RateLimit
from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import Rule

from helpers import LiveSession, sign_in, website_id
from servers import free_port, wait_until

WORKERS = 3
LIMIT = 500  # events per user and hour
WINDOW = 3600
API = "/api/v4/usage_data"


@pytest.fixture
def served(tmp_path, redis_url, key_prefix):
    """`make serve` on a free port, with this test's Redis key prefix and its own database."""
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
        "DATABASE_PATH": str(tmp_path / "webapp.sqlite"),
        "WEBAPP_INSTANCE_PATH": str(tmp_path),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": str(LIMIT),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW": str(WINDOW),
    }
    env.pop("WEBAPP_ENV", None)  # make serve's own default: development, with the demo data
    server = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"PORT={port}", f"WORKERS={WORKERS}"],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), timeout=60, interval=0.2, message="make serve")
        yield base, {**env, "WEBAPP_ENV": "development"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # make, gunicorn and its workers: the group this test started
        server.wait(30)
        # make exits at once; the workers still send what Snowplow queued, to keys this test then cleans.
        wait_until(lambda: not _running_in_group(server.pid), timeout=30, message="gunicorn to stop")


def _running_in_group(group):
    """Whether a live (not zombie) process of this process group is left, read from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _answers(base):
    try:
        return requests.get(f"{base}/users/sign_in", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def same_origin(session):
    session.headers.update({"Origin": session.base, "Sec-Fetch-Site": "same-origin"})
    return session


def send(session, events):
    if len(events) == 1:
        answer = session.post(f"{API}/track_event", json=events[0])
        return answer, (1 if answer.status_code == 200 else 0)
    answer = session.post(f"{API}/track_events", json={"events": events})
    return answer, (answer.json()["accepted"] if answer.status_code == 200 else 0)


def test_counts_are_exact_across_workers_and_the_rate_limit_is_shared(served):
    base, env = served
    started = time.time()
    users = {name: same_origin(sign_in(LiveSession(base), name)) for name in ("alice", "bob", "admin")}
    event = {"event": "project_viewed", "project_id": website_id(env["DATABASE_PATH"])}

    # 150 events per user, single and batched, all users at once: every worker gets some.
    work = [(session, [event] * size) for session in users.values() for size in [1] * 50 + [10] * 10]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda job: send(*job), work))
    assert all(answer.status_code == 200 for answer, _ in outcomes)
    accepted = sum(count for _, count in outcomes)
    assert accepted == 450

    # Bob goes over his limit from several threads: never more than fits, batches whole. Each other
    # worker may still hold part of a block of his allowance (see webapp/api/rate_limit.py).
    lock, refused = threading.Lock(), []

    def over(_):
        answer, count = send(users["bob"], [event] * 10)
        if answer.status_code == 429:
            with lock:
                refused.append(answer)
        return count

    with ThreadPoolExecutor(8) as pool:
        over_limit = sum(pool.map(over, range(40)))
    if int(started // WINDOW) == int(time.time() // WINDOW):  # unless the run straddled the hour
        assert LIMIT - 150 - (WORKERS - 1) * RateLimit(LIMIT, WINDOW).block <= over_limit <= LIMIT - 150
    assert over_limit <= LIMIT
    assert len(refused) == 40 - over_limit // 10
    assert all(r.headers["Retry-After"].isdigit() and "rate limit" in r.json()["error"] for r in refused)

    events = build(from_environment(env), env["WEBAPP_INSTANCE_PATH"])
    try:
        counted = int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_viewed"))) or 0)
        writers = list(events.counters.redis.scan_iter(match=events.counters.keys.writer_marker("project_viewed", "*")))
    finally:
        events.close()
    assert counted == accepted + over_limit
    assert len(writers) >= 2, "the events were written by more than one worker process"

    # The workers' own tracker reaches the app's own collector (token derived from the shared secret key): once each.
    def arrived():
        return users["admin"].get("/micro/good", params={"event": "project_viewed"}).json()

    wait_until(lambda: len(arrived()) >= counted, timeout=60, interval=0.5, message="Snowplow events delivered")
    assert len({event["event_id"] for event in arrived()}) == counted


def test_idle_connections_do_not_stall_the_workers(served):
    """As many silent clients as workers: each sync worker would wait on one (for its 30 s timeout).

    A gthread worker's thread waits 5 s for a request, then parks the connection
    and its other threads serve meanwhile (README: behind a buffering proxy at scale).
    """
    base, _ = served
    host, port = base.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(WORKERS)]
    try:
        for _ in range(5):
            assert requests.get(f"{base}/users/sign_in", timeout=10).status_code == 200
    finally:
        for connection in idle:
            connection.close()


def test_a_worker_freezes_the_app_it_built():
    """gunicorn.conf.py, which `make serve` names: a full collection no longer walks what the worker built."""
    hooks = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    frozen = gc.get_freeze_count()
    hooks["post_worker_init"](None)
    try:
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
