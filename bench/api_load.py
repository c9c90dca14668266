"""The usage-data API under gunicorn on loopback, driven by wrk: a load generator outside the servers' Python.

Three servers run as `make serve` runs the app (gthread workers, keep-alive off,
write-behind, Snowplow off, the rate limit set out of reach): this version, a
do-nothing Flask endpoint (bench/noop_app.py), and the version issue 15 was
filed on (bench/core.py's BEFORE, unpacked from git; signed in with a session
cookie made by its own code, since its pages need assets this tree does not
build). Every endpoint gets the very same request, as the demo user alice
with the browser's same-origin headers.

Rounds alternate between the contenders (ROUND_SECONDS each): single events
against the do-nothing endpoint, then batches of 50 against the earlier
version at the same load (the same connections). Ratios are medians of the
rounds' ratios; latency percentiles are wrk's, median over the rounds.
After the run the servers stop (writing what they queued) and the counts
in Redis must cover every event wrk saw accepted.
"""

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import redis
import requests

from tests.servers import Gunicorn, seed_demo
from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import Rule

from .core import BEFORE, before_tree

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))  # as `make serve`
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
ROUNDS = 10
BATCHED_ROUNDS = 6
ROUND_SECONDS = 2
BATCH = 50  # the API's maximum per request
EVENT = "project_viewed"  # four unique metrics and the event's totals
NOOP = "baseline: do-nothing Flask endpoint"
SINGLE = "track_event, one event a request"
BATCHED = f"track_events, {BATCH} events a request"
SERVING = [
    "--config",
    str(PROJECT_ROOT / "gunicorn.conf.py"),
    "--worker-class",
    "gthread",
    "--threads",
    str(THREADS),
    "--keep-alive",
    "0",
    "--graceful-timeout",
    "30",
]
WRK_SCRIPT = PROJECT_ROOT / "bench" / "wrk_post.lua"
# Issue 15's goals and issue 11's budgets.
SINGLE_GOAL, SINGLE_FLOOR, BATCHED_TIMES, BATCHED_P99_MS, BATCHED_FLOOR = 0.70, 0.50, 1.5, 10.0, 20_000
# The earlier version's sign-in, in its own process: its session cookie for alice and her project's id.
SIGNED_IN_BEFORE = """
import json
from webapp import create_app
from webapp.store import projects, users
app = create_app()
with app.app_context():
    alice = users.by_username("alice")
    project = projects.visible_by_path(alice, "acme", "website").id
    cookie = app.session_interface.get_signing_serializer(app).dumps({"user_id": alice.id})
print(json.dumps([f"{app.config['SESSION_COOKIE_NAME']}={cookie}", project]))
"""


def wrk(url, body, headers, seconds=ROUND_SECONDS):
    """One wrk run posting `body`: requests/s, p50 and p99 in ms, and requests that failed (not 2xx, or errors)."""
    output = subprocess.run(
        ["wrk", "--latency", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", str(WRK_SCRIPT), url],
        env={**os.environ, "WRK_BODY": body, "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    done = int(re.search(r"(\d+) requests in", output).group(1))
    failed = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout):? (\d+)", output))
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "accepted": done - failed,
        "failed": failed,
    }


def _ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


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


def website_id(env):
    """The demo project the events name (public, alice is a member)."""
    from webapp import create_app
    from webapp.demo.store import projects, users

    app = create_app(
        {
            "DATABASE": env["DATABASE_PATH"],
            "WEBAPP_ENV": "test",
            "SECRET_KEY": env["SECRET_KEY"],
            "REDIS_URL": REDIS_URL,
            "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": None,
        }
    )
    with app.app_context():
        return projects.visible_by_path(users.by_username("alice"), "acme", "website").id


def requests_for(base, cookie, project_id):
    """(url, body, headers) of a single event and of a batch, as a signed-in browser on `base` sends them."""
    headers = {"Content-Type": "application/json", "Origin": base, "Sec-Fetch-Site": "same-origin", "Cookie": cookie}
    one = {"event": EVENT, "project_id": project_id}
    return (
        (f"{base}/api/v4/usage_data/track_event", json.dumps(one), headers),
        (f"{base}/api/v4/usage_data/track_events", json.dumps({"events": [one] * BATCH}), headers),
    )


def main():
    folder = Path(tempfile.mkdtemp())
    prefix = f"bench:api:{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "WEBAPP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "REDIS_URL": REDIS_URL,
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "DATABASE_PATH": str(folder / "webapp.sqlite"),
        "WEBAPP_INSTANCE_PATH": str(folder),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": str(10**12),
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    seed_demo(env)
    servers = {
        "now": Gunicorn(env, WORKERS, *SERVING),
        NOOP: Gunicorn(env, WORKERS, *SERVING, app="bench.noop_app:app", ready=("/noop", 405)),
    }
    tree = before_tree(str(folder / "before"))
    if tree:
        before_env = {
            **env,
            "PYTHONPATH": tree,
            "INTERNAL_EVENTS_KEY_PREFIX": prefix + "before:",
            "DATABASE_PATH": str(folder / "before.sqlite"),
            "INTERNAL_EVENTS_DEFINITIONS": f"{tree}/definitions",
            "USAGE_DATA_RATE_LIMIT": str(10**12),
        }
        seed_demo(before_env, tree)
        servers["before"] = Gunicorn(
            before_env,
            WORKERS,
            *SERVING,
            app="webapp:create_app()",
            cwd=tree,
            ready=("/api/v4/usage_data/track_event", 405),
        )
    try:
        for server in servers.values():
            server.start()
        now = servers["now"].url
        single, batched = requests_for(now, sign_in(now), website_id(env))
        contenders = [{NOOP: (f"{servers[NOOP].url}/noop", *single[1:]), SINGLE: single}, {BATCHED: batched}]
        if tree:
            cookie, project = json.loads(
                subprocess.run(
                    [sys.executable, "-c", SIGNED_IN_BEFORE], cwd=tree, env=before_env, capture_output=True, check=True
                ).stdout
            )
            single_before, batched_before = requests_for(servers["before"].url, cookie, project)
            contenders[0][f"{SINGLE} @before"] = single_before
            contenders[1][f"{BATCHED} @before"] = batched_before
        figures = {}
        for group, rounds in zip(contenders, (ROUNDS, BATCHED_ROUNDS)):
            for request in group.values():  # not kept: workers load what they load lazily
                wrk(*request, seconds=1)
            for _ in range(rounds):
                for name, request in group.items():
                    figures.setdefault(name, []).append(wrk(*request))
    finally:
        for server in servers.values():  # SIGTERM: workers finish, write what they queued, and exit
            server.stop()
    counted = count(env, str(folder))
    clean(prefix)
    report(figures, counted, os.getloadavg()[0])


def count(env, folder):
    """The event's all-time total in Redis, as this version's servers left it."""
    events = build(from_environment(env), folder)
    try:
        return int(events.counters.redis.get(events.counters.keys.all_time(Rule(EVENT))) or 0)
    finally:
        events.close()


def clean(prefix):
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def report(figures, counted, load):
    print(
        f"\n== usage-data API under gunicorn ({WORKERS} gthread workers x {THREADS} threads), driven by wrk "
        f"({CONNECTIONS} connections), {ROUND_SECONDS} s alternating rounds; loopback, same 2 cores; "
        f"load average {load:.1f} =="
    )
    if any(name.endswith("@before") for name in figures):
        print(f"before: {BEFORE[:7]}, the code issue 15 was filed on")
    print(f"{'contender':44} {'requests/s':>11} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for name, rounds in figures.items():
        rate = statistics.median(r["rate"] for r in rounds)
        per_request = BATCH if name.startswith(BATCHED) else 1
        p50, p99 = (statistics.median(r[p] for r in rounds) for p in ("p50", "p99"))
        failed = sum(r["failed"] for r in rounds)
        print(f"{name:44} {rate:11,.0f} {rate * per_request:10,.0f} {p50:8.1f} {p99:8.1f} {failed:7}")
    ratios = [s["rate"] / n["rate"] for s, n in zip(figures[SINGLE], figures[NOOP])]
    ratio = statistics.median(ratios)
    print(
        f"single-event requests vs do-nothing endpoint: {ratio:.0%}, rounds from {min(ratios):.0%} to {max(ratios):.0%} "
        f"(goal >= {SINGLE_GOAL:.0%}: {_met(ratio >= SINGLE_GOAL)}; floor >= {SINGLE_FLOOR:.0%}: "
        f"{_met(ratio >= SINGLE_FLOOR)})"
    )
    if f"{SINGLE} @before" in figures:
        before = statistics.median(b["rate"] / n["rate"] for b, n in zip(figures[f"{SINGLE} @before"], figures[NOOP]))
        print(f"single-event requests before, vs the same do-nothing rounds: {before:.0%}")
    events = statistics.median(r["rate"] for r in figures[BATCHED]) * BATCH
    p99 = statistics.median(r["p99"] for r in figures[BATCHED])
    print(f"batched ingestion: {events:,.0f} events/s (floor >= {BATCHED_FLOOR:,}: {_met(events >= BATCHED_FLOOR)})")
    print(f"batched p99: {p99:.1f} ms (goal < {BATCHED_P99_MS:.0f} ms: {_met(p99 < BATCHED_P99_MS)})")
    if f"{BATCHED} @before" in figures:
        times = statistics.median(
            n["rate"] / b["rate"] for n, b in zip(figures[BATCHED], figures[f"{BATCHED} @before"])
        )
        print(f"batched vs before, same load: {times:.2f}x (goal >= {BATCHED_TIMES}x: {_met(times >= BATCHED_TIMES)})")
    accepted = sum(
        r["accepted"] * (BATCH if n.startswith(BATCHED) else 1)
        for n, rs in figures.items()
        for r in rs
        if not n.endswith("@before") and n != NOOP
    )
    print(
        f"counted after the run: {counted:,}; wrk saw {accepted:,} accepted "
        f"({'every accepted event counted' if counted >= accepted else 'NOT every accepted event counted'})"
    )


def _met(condition):
    return "met" if condition else "NOT met"


if __name__ == "__main__":
    main()
