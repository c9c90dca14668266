"""track_event and track_events throughput against a local Redis, beside two baselines in the same run.

- ping: one PING per event, the floor any design with one round trip per event is bound by;
- naive: one Redis command per key, unpipelined, as a per-metric implementation would do.

Rounds alternate between the contenders, so a noisy neighbour hurts all of them alike;
each figure is the median over the rounds.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import redis
import requests

from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.windows import today

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
EVENT = "project_viewed"  # four unique metrics and the event's own totals: 7 writes per event
ROUNDS = 5
EVENTS_PER_ROUND = 3000
BATCH = 100
NAIVE = "baseline: naive, one command per key"
UNJOURNALED = "baseline: write-behind, journal left out (not durable)"


class UnkeptJournal:
    """The journal's cost baseline: numbers events like the journal, keeps nothing."""

    def __init__(self):
        self._next = 1

    def accepted(self, day, events):
        first, self._next = self._next, self._next + len(events)
        return first

    def writing(self, writer, number, day, first, last):
        pass

    def done(self, last):
        pass

    def finish(self):
        pass


def calls(count, offset=0):
    return [
        {"event": EVENT, "user_id": offset + i, "namespace_id": 1, "project_id": (offset + i) % 500}
        for i in range(count)
    ]


def naive_track(events, call):
    """The baseline: the same writes as ours, one command and one round trip per key."""
    event = events.prepare(call["event"], **{k: v for k, v in call.items() if k != "event"})
    write_batch = events.counters.write_batch(events.definitions)
    write_batch.add(events.definitions.rules_for(event.name), event, today())
    client = events.counters.redis
    for writes in write_batch.slots.values():
        for (key, field), (op, payload, detail) in writes.items():
            if op == "u":
                client.pfadd(key, *payload)
                client.expire(key, detail)
            elif op in "hf":
                client.hincrby(key, field, payload) if op == "h" else client.hincrbyfloat(key, field, payload)
            else:
                client.incrby(key, payload) if op == "a" else client.incrbyfloat(key, payload)


def rate(function, count):
    start = time.perf_counter()
    function()
    return count / (time.perf_counter() - start)


def contenders(sync, behind, label=""):
    """Named functions each tracking EVENTS_PER_ROUND events; write-behind ones include the final flush."""
    work = calls(EVENTS_PER_ROUND)

    def one_by_one(events):
        def run():
            for call in work:
                events.track(call["event"], **{k: v for k, v in call.items() if k != "event"})
            assert events.flush(60)

        return run

    def batched():
        for start in range(0, EVENTS_PER_ROUND, BATCH):
            sync.track_many(work[start : start + BATCH])

    return {
        f"track_event, synchronous{label}": one_by_one(sync),
        f"track_event, write-behind (production default){label}": one_by_one(behind),
        f"track_events, batches of {BATCH}{label}": batched,
    }


def baselines(events):
    def naive():
        for call in calls(EVENTS_PER_ROUND):
            naive_track(events, call)

    def ping():
        for _ in range(EVENTS_PER_ROUND):
            events.counters.redis.ping()

    return {NAIVE: naive, "baseline: one PING per event": ping}


def measure(runs):
    figures = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, function in runs.items():
            figures[name].append(rate(function, EVENTS_PER_ROUND))
    return figures


def start_collector(env, port=None):
    """The app's own Snowplow collector, in its own process as in production."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "webapp", "run", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/micro/all", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the collector did not start")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    settings = {
        "WEBAPP_ENV": "production",
        "INTERNAL_EVENTS_WRITE_BEHIND": "0",
        "REDIS_URL": REDIS_URL,
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "SECRET_KEY": "bench",
        "INTERNAL_EVENTS_COLLECTOR_ENABLED": "1",
    }
    client = redis.Redis.from_url(REDIS_URL)
    instance_path = tempfile.mkdtemp()
    collector = None
    try:

        def instance(**extra):
            return build(from_environment({**settings, **extra}), instance_path)

        sync, behind = instance(), instance(INTERNAL_EVENTS_WRITE_BEHIND="1")
        unjournaled = instance(INTERNAL_EVENTS_WRITE_BEHIND="1")
        unjournaled.writer.journal = UnkeptJournal()
        figures = measure(
            {
                **baselines(sync),
                **contenders(sync, behind),
                UNJOURNALED: contenders(sync, unjournaled)["track_event, write-behind (production default)"],
            }
        )
        collector, url = start_collector({**os.environ, **settings, "WEBAPP_ENV": "test"})
        sending = [
            instance(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=url),
            instance(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=url, INTERNAL_EVENTS_WRITE_BEHIND="1"),
        ]
        figures.update(measure(contenders(*sending, label=" + Snowplow")))
        flushed = all(events.snowplow.flush(timeout=120) for events in sending)
        report(figures, sending, flushed)
    finally:
        clean_up(collector, client, prefix)


def clean_up(collector, client, prefix):
    """Stop the collector process (if started) and delete the run's Redis keys."""
    if collector:
        collector.terminate()
        collector.wait()
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def report(figures, sending, flushed):
    medians = {name: statistics.median(values) for name, values in figures.items()}
    naive = figures[NAIVE]
    print(
        f"\n== track_event throughput: local Redis, one process, {ROUNDS} alternating rounds of "
        f"{EVENTS_PER_ROUND} '{EVENT}' events (7 writes each) =="
    )
    print(f"{'contender':62} {'events/s':>10} {'vs naive':>9}")
    for name, value in medians.items():
        ratios = [v / b for v, b in zip(figures[name], naive)]
        print(f"{name:62} {value:10,.0f} {statistics.median(ratios):8.1f}x")
    sent = sum(events.snowplow.status()["delivered"] for events in sending)
    failed = sum(events.snowplow.status()["failed_posts"] for events in sending)
    print(f"Snowplow: {sent:,} events sent, {failed} failed POSTs, {'all flushed' if flushed else 'NOT all flushed'}")
    sync = medians["track_event, synchronous"]
    behind = medians["track_event, write-behind (production default)"]
    journal_cost = statistics.median(
        b / u for b, u in zip(figures["track_event, write-behind (production default)"], figures[UNJOURNALED])
    )
    print(
        f"the journal: write-behind with it runs at {journal_cost:.0%} of write-behind without it; "
        f"a caller waiting for Redis (synchronous, group commit's best case for one caller) at "
        f"{sync / behind:.0%} of write-behind with it"
    )
    print(
        f"targets: >= 3x naive: synchronous {sync / statistics.median(naive):.1f}x, "
        f"write-behind {behind / statistics.median(naive):.1f}x; "
        f">= 10,000 events/s: write-behind {behind:,.0f} ({'met' if behind >= 10_000 else 'NOT met'})"
    )
