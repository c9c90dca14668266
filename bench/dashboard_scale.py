"""The metrics dashboard at GitLab's scale: page and live-update sizes and server times, in one run.

The app loads the synthetic GitLab-sized definitions tree (bench/synthetic_definitions.py,
about 2,600 reported metric key paths) and events tracked over the chart's 84 days. The overview's polls
read today's counts and remember completed days, and a dictionary sorted by value is ranked by values
remembered for a minute; the cold lines are a process's first of each. Each request is timed
in-process (the server's own time, no network) over alternating rounds; the baseline is
the service ping, which reads every metric, measured in the same rounds. Sizes are the
bodies as sent: raw, and gzipped as browsers receive them.
"""

import os
import random
import re
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import time_machine

from webapp import create_app
from webapp.demo.store import users

from .synthetic_definitions import write_tree

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ROUNDS = 7
TRACKED = 20_000
DAYS = 84
BASELINE = "baseline: service ping (every metric)"
COLD = "overview update, cold process"  # nothing remembered yet: every day read
COLD_RANKING = "sorted by 28d value, cold process"  # every metric's values read to rank them
# a cold line's request -> what the process forgets before it
FORGETS = {COLD: "dashboard_overview", COLD_RANKING: "dashboard_ranking"}
# name -> (path, budget for the gzipped body in bytes, budget for the server time in seconds)
REQUESTS = {
    "overview page": ("/admin/metrics/", 200_000, None),
    "overview live update": ("/admin/metrics/data.json", 50_000, 0.100),
    COLD: ("/admin/metrics/data.json", None, None),
    "dictionary first page": ("/admin/metrics/dictionary", 200_000, None),
    "dictionary live update": ("/admin/metrics/dictionary.json", 50_000, 0.100),
    "dictionary search live update": ("/admin/metrics/dictionary.json?q=metric_001", 50_000, 0.100),
    "dictionary sorted by 28d value": ("/admin/metrics/dictionary?sort=value_28d", 200_000, None),
    COLD_RANKING: ("/admin/metrics/dictionary?sort=value_28d", None, None),
    "metric page": (None, 200_000, None),
    BASELINE: ("/api/v4/usage_data/service_ping", None, None),
}


def build_app(scratch, prefix):
    tree = scratch / "gitlab-sized"
    write_tree(tree)
    app = create_app(
        {
            "WEBAPP_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "REDIS_URL": REDIS_URL,
            "INTERNAL_EVENTS_KEY_PREFIX": prefix,
            "INTERNAL_EVENTS_DEFINITIONS": str(tree),
            "DATABASE": str(scratch / "bench.sqlite"),
            "INTERNAL_EVENTS_WRITE_BEHIND": False,
            "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": None,
            "INTERNAL_EVENTS_COLLECTOR_ENABLED": True,
            "INTERNAL_EVENTS_SPOOL_PATH": str(scratch / "spool.sqlite3"),
        }
    )
    with app.app_context():
        users.create("bench-admin", "Bench Admin", "bench-admin-password", is_admin=True)
    return app


def track_some(events):
    """TRACKED events spread over the defined events and the chart's 84 days, each with a user, a namespace
    and a project, so that a cold overview finds counts on every day it reads."""
    rng = random.Random(7)
    names = sorted(events.definitions.events)
    calls = [
        {
            "event": rng.choice(names),
            "user_id": rng.randint(1, 500),
            "namespace_id": rng.randint(1, 50),
            "project_id": rng.randint(1, 200),
            # Metrics that count distinct labels, properties or values, or sum values, need them.
            "additional_properties": {"label": f"l{rng.randint(1, 9)}", "property": "p", "value": rng.randint(1, 5)},
        }
        for _ in range(TRACKED)
    ]
    now = datetime.now(UTC)
    chunk = TRACKED // DAYS
    for back in range(DAYS):  # oldest first, as they would have happened
        with time_machine.travel(now - timedelta(days=DAYS - 1 - back), tick=False):
            events.track_many(calls[back * chunk : (back + 1) * chunk])


def signed_in(app):
    """A test client signed in as the bench's administrator, through the real sign-in form."""
    client = app.test_client()
    page = client.get("/users/sign_in").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = client.post(
        "/users/sign_in",
        data={"username": "bench-admin", "password": "bench-admin-password", "csrf_token": token},
    )
    assert answer.status_code == 302, "sign-in failed"
    return client


def measure(app):
    client = signed_in(app)
    first_metric = app.extensions["internal_events"].definitions.metrics[0].key_path
    paths = {name: path or f"/admin/metrics/metric/{first_metric}" for name, (path, _, _) in REQUESTS.items()}
    times, sizes = {name: [] for name in paths}, {}
    for name, path in paths.items():  # warm up, and the sizes
        if name in FORGETS:
            app.extensions.pop(FORGETS[name], None)
        raw = client.get(path)
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert raw.status_code == 200, (name, raw.status_code, raw.get_data(as_text=True)[:300])
        sizes[name] = (len(raw.get_data()), len(packed.get_data()))
    for _ in range(ROUNDS):
        for name, path in paths.items():
            if name in FORGETS:
                app.extensions.pop(FORGETS[name])
            start = time.perf_counter()
            response = client.get(path, headers={"Accept-Encoding": "gzip"})
            times[name].append(time.perf_counter() - start)
            assert response.status_code == 200
    return {name: statistics.median(values) for name, values in times.items()}, sizes


def report(app, medians, sizes):
    definitions = app.extensions["internal_events"].definitions
    files = len({metric.path for metric in definitions.metrics})
    print(
        f"\n== Metrics dashboard at GitLab's scale: {len(definitions.metrics):,} reported key paths in {files:,} "
        f"metric files, {len(definitions.events):,} events, {TRACKED:,} events tracked; medians of {ROUNDS} =="
    )
    baseline = medians[BASELINE]
    print(f"{'request':34} {'raw':>10} {'gzipped':>10} {'server time':>12} {'vs ping':>8}  budget")
    for name, (_, size_budget, time_budget) in REQUESTS.items():
        raw, packed = sizes[name]
        budget = []
        if size_budget:
            budget.append(
                f"{packed / 1000:.0f} KB < {size_budget / 1000:.0f} KB {'met' if packed < size_budget else 'NOT met'}"
            )
        if time_budget:
            budget.append(
                f"{medians[name] * 1000:.0f} ms < {time_budget * 1000:.0f} ms "
                f"{'met' if medians[name] < time_budget else 'NOT met'}"
            )
        print(
            f"{name:34} {raw / 1000:8.1f}KB {packed / 1000:8.1f}KB {medians[name] * 1000:10.1f}ms "
            f"{medians[name] / baseline:7.2f}x  {'; '.join(budget)}"
        )
    print(
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the ratios to the service ping hold "
        f"under load better than the milliseconds)"
    )


def main():
    scratch = Path(tempfile.mkdtemp())
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    app = build_app(scratch, prefix)
    try:
        track_some(app.extensions["internal_events"])
        report(app, *measure(app))
    finally:
        app.extensions["internal_events"].close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


if __name__ == "__main__":
    main()
