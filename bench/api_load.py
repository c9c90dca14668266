"""The usage-data API under gunicorn on loopback, beside a do-nothing Flask endpoint served the same way.

Concurrent client processes send single events (`track_event`) and batches of 50
(`track_events`) as a signed-in user, with the browser's same-origin headers.
The app runs as in production (write-behind, Snowplow off, the rate limit set out
of reach); a third server waits for Redis before answering (group commit, the
journal's alternative). Every endpoint gets the very same request. First the clients take
turns between single events and the do-nothing endpoint every half second for
20 rounds: the ratio is the median of the rounds' ratios. Then they send
batches for 5 s on end, so the background writes of the batches are part of
their own figure and never fall into another contender's turn. Each rate is
the median of its half-second slices. After the run the servers stop (flushing
what they queued) and the counts in Redis must equal what the clients were told
was accepted.
"""

import http.client
import json
import multiprocessing
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import redis
import requests

from tests.servers import free_port, wait_until
from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import Rule

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Two per core: a worker waiting on Redis or SQLite leaves its core to another. Both servers get the same.
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
# Many short slices: this machine's speed drifts by half within seconds (measured: a do-nothing
# endpoint at 2,100 to 3,500 requests/s from one second to the next, CPU busy throughout), so
# contenders take turns every half second and each round's ratio compares neighbours.
ROUNDS = 20
BATCHED_SLICES = 10
SLICE = 0.5  # seconds
LOAD_STARTUP = 1.0  # seconds for the client processes to start
BATCH = 50  # the API's maximum per request
EVENT = "project_viewed"  # four unique metrics and the event's totals
NOOP = "baseline: do-nothing Flask endpoint"
SINGLE = "track_event, one event a request"
# The alternative to the journal: a request waits until its events are in Redis. A sync worker serves one
# request at a time, so no batch can form within it: group commit there is one Redis write a request.
GROUP_COMMIT = "track_event, waiting for Redis (group commit)"
BATCHED = f"track_events, {BATCH} events a request"


def gunicorn(app, env, port):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "30",
            app,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def answering(url):
    try:
        requests.get(url, timeout=5)
        return True
    except requests.RequestException:  # not listening yet, or a worker still starting
        return False


def sign_in(base):
    """The session cookie of the demo user alice, through the real sign-in form."""
    session = requests.Session()
    page = session.get(f"{base}/users/sign_in", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = session.post(
        f"{base}/users/sign_in",
        allow_redirects=False,
        timeout=10,
        data={"username": "alice", "password": "alice-demo", "csrf_token": token},
    )
    assert answer.status_code == 302, "sign-in failed"
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def client(contenders, rounds, start_at, results):
    """One client process: requests back to back, to each contender in turn for one time slice.

    Every client follows the same system-wide monotonic clock, so all of them
    switch together. A request counts in the slice it started in. Puts, per
    round and contender, (requests, latencies, statuses) on `results`.
    """
    measured = [[([], {}) for _ in contenders] for _ in range(rounds)]
    time.sleep(max(0.0, start_at - time.monotonic()))
    for number, round_ in enumerate(measured):
        for index, (port, path, body, headers, _) in enumerate(contenders):
            latencies, statuses = round_[index]
            deadline = start_at + (number * len(contenders) + index + 1) * SLICE
            while time.monotonic() < deadline:
                latencies.append(request(port, path, body, headers, statuses))
    results.put(measured)


def request(port, path, body, headers, statuses):
    """One POST on a new connection (gunicorn's sync workers close it anyway); its latency in seconds."""
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
        connection.close()
    except OSError as error:
        status = type(error).__name__
    statuses[status] = statuses.get(status, 0) + 1
    return time.perf_counter() - start


def load(contenders, rounds):
    """CLIENTS processes taking turns: per round and contender, (requests/s, latencies, statuses)."""
    results = multiprocessing.Queue()
    start_at = time.monotonic() + LOAD_STARTUP  # after every client process is up
    processes = [
        multiprocessing.Process(target=client, args=(contenders, rounds, start_at, results)) for _ in range(CLIENTS)
    ]
    for process in processes:
        process.start()
    gathered = [results.get() for _ in processes]
    for process in processes:
        process.join()
    measured = []
    for number in range(rounds):
        round_ = []
        for index in range(len(contenders)):
            latencies, statuses = [], {}
            for per_client in gathered:
                client_latencies, client_statuses = per_client[number][index]
                latencies += client_latencies
                for status, count in client_statuses.items():
                    statuses[status] = statuses.get(status, 0) + count
            round_.append((len(latencies) / SLICE, latencies, statuses))
        measured.append(round_)
    return measured


def main():
    folder = tempfile.mkdtemp()
    prefix = f"bench:api:{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "WEBAPP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "REDIS_URL": REDIS_URL,
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "DATABASE_PATH": f"{folder}/webapp.sqlite",
        "WEBAPP_INSTANCE_PATH": folder,
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": str(10**12),
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", "seed-demo"],
        cwd=PROJECT_ROOT,
        check=True,
        env={**env, "WEBAPP_ENV": "test"},
        stdout=subprocess.DEVNULL,
    )
    app_port, noop_port, waiting_port = free_port(), free_port(), free_port()
    servers = [
        gunicorn("webapp:create_app()", env, app_port),
        gunicorn("bench.noop_app:app", env, noop_port),
        gunicorn("webapp:create_app()", {**env, "INTERNAL_EVENTS_WRITE_BEHIND": "0"}, waiting_port),
    ]
    try:
        wait_until(lambda: answering(f"http://127.0.0.1:{app_port}/users/sign_in"), timeout=30, message="app")
        wait_until(lambda: answering(f"http://127.0.0.1:{noop_port}/"), timeout=30, message="baseline")
        wait_until(lambda: answering(f"http://127.0.0.1:{waiting_port}/users/sign_in"), timeout=30, message="app")
        events = build(from_environment(env), folder)
        try:
            figures, accepted, written = run(
                app_port, noop_port, waiting_port, sign_in(f"http://127.0.0.1:{app_port}"), env, lambda: total(events)
            )
        finally:
            events.close()
    finally:
        for server in servers:  # SIGTERM: workers finish, write what they queued, and exit
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    counted = count(env, folder)
    clean(prefix)
    report(figures, accepted, counted, written)


def run(app_port, noop_port, waiting_port, cookie, env, counted):
    """Both phases: the figures per contender, the events accepted, and the batches' rate into Redis.

    That rate runs until the last queued write of the batches is in Redis, so
    write-behind cannot make it look faster than what is really stored.
    """
    origin = f"http://127.0.0.1:{app_port}"
    headers = {"Content-Type": "application/json", "Origin": origin, "Sec-Fetch-Site": "same-origin", "Cookie": cookie}
    project_id = website_id(env)
    one = {"event": EVENT, "project_id": project_id}
    single = (app_port, "/api/v4/usage_data/track_event", json.dumps(one), headers, 1)
    noop = (noop_port, "/noop", json.dumps(one), headers, 1)
    waiting = (
        waiting_port,
        "/api/v4/usage_data/track_event",
        json.dumps(one),
        {**headers, "Origin": f"http://127.0.0.1:{waiting_port}"},
        1,
    )
    batched = (app_port, "/api/v4/usage_data/track_events", json.dumps({"events": [one] * BATCH}), headers, BATCH)
    phases = [({SINGLE: single, NOOP: noop, GROUP_COMMIT: waiting}, ROUNDS), ({BATCHED: batched}, BATCHED_SLICES)]
    figures, accepted, written = {}, 0, None
    for contenders, rounds in phases:
        wait_until(lambda: counted() == accepted, timeout=120, message="queued writes")
        before, start = accepted, time.monotonic()
        for round_ in load(list(contenders.values()), rounds):
            for (name, (port, _, _, _, per_request)), (rate, latencies, statuses) in zip(contenders.items(), round_):
                figures.setdefault(name, []).append((rate, rate * per_request, latencies, statuses))
                if port != noop_port:
                    accepted += statuses.get(200, 0) * per_request
        wait_until(lambda: counted() == accepted, timeout=120, interval=0.01, message="queued writes")
        written = (accepted - before) / (time.monotonic() - start - LOAD_STARTUP)  # the last phase's: batches
    return figures, accepted, written


def website_id(env):
    """The demo project the events name (public, alice is a member)."""
    from webapp import create_app
    from webapp.demo.store import projects, users

    app = create_app(
        {
            "DATABASE": env["DATABASE_PATH"],
            "WEBAPP_ENV": "test",
            "SECRET_KEY": "bench",
            "REDIS_URL": REDIS_URL,
            "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": None,
        }
    )
    with app.app_context():
        return projects.visible_by_path(users.by_username("alice"), "acme", "website").id


def total(events):
    """The event's all-time total in Redis."""
    return int(events.counters.redis.get(events.counters.keys.all_time(Rule(EVENT))) or 0)


def count(env, folder):
    """The event's all-time total, as the servers left it."""
    events = build(from_environment(env), folder)
    try:
        return total(events)
    finally:
        events.close()


def clean(prefix):
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def report(figures, accepted, counted, written):
    print(
        f"\n== usage-data API under gunicorn ({WORKERS} workers, sync), {CLIENTS} client processes, "
        f"{ROUNDS} rounds of {SLICE} s turns; loopback, same 2 cores =="
    )
    print(f"{'contender':40} {'requests/s':>11} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    medians = {}
    for name, rounds in figures.items():
        rate = statistics.median(r[0] for r in rounds)
        events = statistics.median(r[1] for r in rounds)
        latencies = sorted(value for r in rounds for value in r[2])
        errors = sum(count for r in rounds for status, count in r[3].items() if status != 200)
        medians[name] = (rate, events, errors)
        p50, p99 = latencies[len(latencies) // 2] * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3
        print(f"{name:40} {rate:11,.0f} {events:10,.0f} {p50:8.1f} {p99:8.1f} {errors:7}")
    ratios = [s[0] / n[0] for s, n in zip(figures[SINGLE], figures[NOOP])]
    ratio = statistics.median(ratios)
    waiting = statistics.median(w[0] / n[0] for w, n in zip(figures[GROUP_COMMIT], figures[NOOP]))
    print(
        f"journal (answer once the event is journaled) vs group commit (answer once it is in Redis): "
        f"{ratio:.0%} vs {waiting:.0%} of the do-nothing endpoint"
    )
    errors = sum(errors for _, _, errors in medians.values())
    exact = counted == accepted
    print(
        f"single-event requests vs do-nothing endpoint: {ratio:.0%}, rounds from {min(ratios):.0%} to "
        f"{max(ratios):.0%} (target >= 50%: {'met' if ratio >= 0.5 else 'NOT met'})"
    )
    print(
        f"batched ingestion, until the last event is in Redis: {written:,.0f} events/s (target >= 20,000: "
        f"{'met' if written >= 20_000 else 'NOT met'})"
    )
    print(
        f"errors: {errors} (target 0: {'met' if errors == 0 else 'NOT met'}); "
        f"counted after the run: {counted:,} of {accepted:,} accepted ({'exact' if exact else 'NOT exact'})"
    )
