"""Snowplow through a collector outage: what tracking costs while events wait on disk, and how fast the backlog goes.

The collector (the app's own, in its own process) is stopped, a backlog of
more than 1 MiB is tracked, the collector comes back on the same port and the
backlog is posted in capped batches. Delivery is checked exact from the
collector's own counts: every event received once, none twice.
"""

import statistics
import tempfile
import time
import uuid

import redis

from webapp.config import from_environment
from webapp.internal_events.setup import build

from .core import REDIS_URL, clean_up, free_port, start_collector

EVENTS = 5000
BATCH = 10  # events one request records


def track_all(events, offset):
    durations = []
    for start in range(0, EVENTS, BATCH):
        calls = [{"event": "project_viewed", "user_id": offset + start + i, "namespace_id": 1, "project_id": 2,
                  "additional_properties": {"label": "outage"}} for i in range(BATCH)]
        began = time.perf_counter()
        events.track_many(calls)
        durations.append(time.perf_counter() - began)
    return durations


def main():
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    port = free_port()
    settings = {"WEBAPP_ENV": "production", "SECRET_KEY": "bench", "REDIS_URL": REDIS_URL, "COLLECTOR_ENABLED": "1",
                "INTERNAL_EVENTS_KEY_PREFIX": prefix, "INTERNAL_EVENTS_WRITE_BEHIND": "0",
                "SNOWPLOW_COLLECTOR_URL": f"http://127.0.0.1:{port}"}
    collector_settings = {**settings, "WEBAPP_ENV": "test", "SNOWPLOW_COLLECTOR_URL": ""}  # it sends nothing itself
    client = redis.Redis.from_url(REDIS_URL)
    collector = None
    with tempfile.TemporaryDirectory() as folder:
        events = build(from_environment({**settings, "SNOWPLOW_OUTBOX_DIR": folder,
                                         "INTERNAL_EVENTS_SPOOL_PATH": f"{folder}/spool.sqlite3"}), folder)
        try:
            collector, _ = start_collector(collector_settings, port)
            up = track_all(events, 0)
            assert events.snowplow.flush(timeout=120), "not delivered while the collector was up"
            collector.terminate()
            collector.wait()
            down = track_all(events, EVENTS)
            backlog = events.snowplow.outbox.oldest(EVENTS + 1)
            backlog_bytes = sum(len(payload) for payload in map(str, (p for _, p in backlog)))
            collector, _ = start_collector(collector_settings, port)
            began = time.perf_counter()
            delivered = events.snowplow.flush(timeout=300)
            seconds = time.perf_counter() - began
            status = events.snowplow.status()
            received, duplicates = (int(v or 0) for v in client.mget(
                f"{prefix}{{_internal}}:collector:received", f"{prefix}{{_internal}}:collector:duplicates"))
        finally:
            events.close()
            clean_up(collector, client, prefix)
    report(up, down, len(backlog), backlog_bytes, seconds, delivered, status, received, duplicates)


def report(up, down, backlog, backlog_bytes, seconds, delivered, status, received, duplicates):
    def rate(durations):
        return EVENTS / sum(durations)

    print(f"\n== Snowplow collector outage: {EVENTS} events in track_events calls of {BATCH}, synchronous, "
          f"Snowplow on ==")
    print(f"{'phase':52} {'events/s':>10} {'p50 ms':>9}")
    for name, durations in (("collector up: tracked into the outbox", up),
                            ("collector stopped: tracked into the outbox", down)):
        print(f"{name:52} {rate(durations):10,.0f} {statistics.median(durations) * 1e3:9.2f}")
    print(f"tracking while the collector is down runs at {rate(down) / rate(up):.0%} of its rate while it is up")
    print(f"backlog: {backlog:,} events, {backlog_bytes / 2**20:.2f} MiB; posted after the restart in {seconds:.1f} s "
          f"({backlog / seconds:,.0f} events/s), {'all' if delivered else 'NOT all'} delivered")
    exact = received == 2 * EVENTS and duplicates == 0
    print(f"collector received {received:,} of {2 * EVENTS:,}, {duplicates} twice "
          f"({'exact' if exact else 'NOT exact'}); outbox: {status['failed_posts']} failed POSTs during the outage, "
          f"{status['dropped']} dropped, {status['rejected']} rejected")
