"""Tracking through a Redis outage: how fast calls return while events go to the spool, and how fast it replays.

A throwaway redis-server is stopped between the rounds; synchronous writes
(write-behind off) so each figure is the caller's own cost. Totals are checked
exact at the end.
"""

import statistics
import tempfile
import time
from pathlib import Path

from tests.servers import RedisServer
from webapp.demo.config import from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import Rule

EVENTS = 3000
BATCH = 10  # track_events calls spool one row each: a batch is what one request records


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def track_all(events, offset):
    durations = []
    for start in range(0, EVENTS, BATCH):
        calls = [
            {"event": "project_viewed", "user_id": offset + start + i, "namespace_id": 1, "project_id": 2}
            for i in range(BATCH)
        ]
        durations.append(timed(lambda: events.track_many(calls)))
    return durations


def main():
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder) / "redis", persistent=True).start()
        events = build(
            from_environment(
                {
                    "WEBAPP_ENV": "production",
                    "SECRET_KEY": "bench",
                    "REDIS_URL": server.url,
                    "INTERNAL_EVENTS_WRITE_BEHIND": "0",
                    "INTERNAL_EVENTS_SPOOL_PATH": f"{folder}/spool.sqlite3",
                }
            ),
            folder,
        )
        try:
            up = track_all(events, 0)
            server.stop()
            down = track_all(events, EVENTS)
            spooled = events.delivery.status()["pending"]
            server.start()
            replay_seconds = timed(events.delivery.replay)
            counted = int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_viewed"))) or 0)
        finally:
            events.close()
            server.stop()
    report(up, down, spooled, replay_seconds, counted)


def report(up, down, spooled, replay_seconds, counted):
    def line(name, durations):
        per_batch = statistics.median(durations) * 1e3
        p99 = statistics.quantiles(durations, n=100)[98] * 1e3
        rate = EVENTS / sum(durations)
        print(f"{name:44} {rate:10,.0f} {per_batch:9.2f} {p99:9.2f}")

    print(f"\n== Redis outage: {EVENTS} events in track_events calls of {BATCH}, synchronous writes ==")
    print(f"{'phase':44} {'events/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    line("Redis up: written to Redis", up)
    line("Redis stopped: written to the on-disk spool", down)
    print(f"{'replay after restart: ' + format(spooled, ',') + ' spooled events':44} {spooled / replay_seconds:10,.0f}")
    exact = counted == 2 * EVENTS
    print(f"total after replay: {counted:,} of {2 * EVENTS:,} ({'exact' if exact else 'NOT exact'})")
