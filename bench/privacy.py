"""What deciding "may this go to Snowplow?" costs (switch, privacy signal, opt-out lookup), beside the Redis write.

The decision reads the opt-outs from SQLite once per written batch. Rounds
alternate between the two, and each figure is the median over the rounds.
"""

import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis

from webapp.demo.config import from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.model import TrackedEvent
from webapp.internal_events.windows import today

from .core import REDIS_URL

ROUNDS = 7
CALLS = 200


def per_call(function):
    start = time.perf_counter()
    for _ in range(CALLS):
        function()
    return (time.perf_counter() - start) / CALLS


def main():
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    folder = Path(tempfile.mkdtemp())
    events = build(
        from_environment(
            {
                "WEBAPP_ENV": "production",
                "INTERNAL_EVENTS_WRITE_BEHIND": "0",
                "REDIS_URL": REDIS_URL,
                "INTERNAL_EVENTS_KEY_PREFIX": prefix,
                "SECRET_KEY": "bench",
            }
        ),
        folder,
    )
    events.privacy.opt_outs.set(7, True)
    print("\n== Snowplow decision (switch, privacy signal, opt-outs) vs the batch's Redis write ==")
    print(f"{'batch':>6} {'decision':>10} {'Redis write':>12} {'share':>7}")
    try:
        for size in (1, 100):
            batch = [TrackedEvent("project_viewed", user_id=i, namespace_id=1, project_id=i) for i in range(size)]
            decide, write = [], []
            for _ in range(ROUNDS):
                decide.append(per_call(lambda: events.privacy.allowed(batch)))
                write.append(per_call(lambda: events.delivery.write(events.definitions, batch, today())))
            share = statistics.median(d / w for d, w in zip(decide, write))
            print(
                f"{size:6} {statistics.median(decide) * 1e6:8.0f} µs {statistics.median(write) * 1e6:10.0f} µs "
                f"{share:7.1%}"
            )
    finally:
        events.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
