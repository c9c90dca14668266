"""One version of the tracking core in its own process, running benchmark rounds on command.

`python bench/track_rounds.py` with the tree to measure first on PYTHONPATH
(the current checkout, or an earlier commit's `webapp` unpacked by core.py):
it imports only what both versions have, so one run measures both side by side.
Reads a contender's name per line on stdin, runs one round of it and answers
its events/s and the process's CPU time per event; after a Snowplow round it
posts what the round left in the outbox, outside the timed part (so the courier
never runs during another contender's round), and answers the CPU time that
took per event too. `flush` waits for Snowplow and answers what it sent; `quit`
deletes the run's keys. Settings come from the environment.
"""

import json
import os
import sys
import tempfile
import time

import redis

try:  # the current layout
    from webapp.demo.config import from_environment
    from webapp.internal_events.assembly import build
except ImportError:  # the layout when issue 15 was filed
    from webapp.config import from_environment  # type: ignore[no-redef]
    from webapp.internal_events.setup import build  # type: ignore[no-redef]

EVENT = "project_viewed"  # four unique metrics and the event's own totals: 7 writes per event
EVENTS_PER_ROUND = int(os.environ.get("BENCH_EVENTS_PER_ROUND", "3000"))
BATCH = 100
SNOWPLOW = " + Snowplow"


def calls(count):
    return [{"event": EVENT, "user_id": i, "namespace_id": 1, "project_id": i % 500} for i in range(count)]


def one_by_one(tracker, work):
    def run():
        for call in work:
            tracker.track(call["event"], **{k: v for k, v in call.items() if k != "event"})
        assert tracker.flush(60)

    return run


def batched(tracker, work):
    def run():
        for start in range(0, len(work), BATCH):
            tracker.track_many(work[start : start + BATCH])

    return run


def contenders(settings, instance_path, collector):
    """Named rounds, each (function, tracker): the same calls through each configuration, with and without Snowplow."""
    work = calls(EVENTS_PER_ROUND)
    runs, trackers = {}, []
    for label, extra in (("", {}), (SNOWPLOW, {"INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": collector})):
        if label and not collector:
            continue
        extra = {**extra, "SNOWPLOW_COLLECTOR_URL": extra.get("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", "")}
        sync = build(from_environment({**settings, **extra}), instance_path)
        behind = build(from_environment({**settings, **extra, "INTERNAL_EVENTS_WRITE_BEHIND": "1"}), instance_path)
        trackers += [sync, behind]
        runs[f"track_event, synchronous{label}"] = one_by_one(sync, work), sync
        runs[f"track_event, write-behind{label}"] = one_by_one(behind, work), behind
        runs[f"track_events, batches of {BATCH}{label}"] = batched(sync, work), sync
    return runs, trackers


def round_of(function, tracker):
    """One timed round: {"rate": events/s, "cpu_us": process CPU µs per event, and for a Snowplow round
    "courier_cpu_us": the CPU µs per event of posting what it queued, afterwards}."""
    cpu, start = time.process_time(), time.perf_counter()
    function()
    elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
    answer = {"rate": EVENTS_PER_ROUND / elapsed, "cpu_us": cpu_used / EVENTS_PER_ROUND * 1e6}
    if tracker.snowplow is not None:
        cpu = time.process_time()
        assert tracker.snowplow.flush(timeout=120), "the round's events were not all posted"
        answer["courier_cpu_us"] = (time.process_time() - cpu) / EVENTS_PER_ROUND * 1e6
    return answer


def main():
    prefix = os.environ["INTERNAL_EVENTS_KEY_PREFIX"]
    settings = {
        "WEBAPP_ENV": "production",
        "INTERNAL_EVENTS_WRITE_BEHIND": "0",
        "REDIS_URL": os.environ["REDIS_URL"],
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "INTERNAL_EVENTS_DEFINITIONS": os.environ["INTERNAL_EVENTS_DEFINITIONS"],
    }
    runs, trackers = contenders(settings, tempfile.mkdtemp(), os.environ.get("BENCH_COLLECTOR_URL"))
    print(json.dumps(sorted(runs)), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "flush":
            senders = [t.snowplow for t in trackers if t.snowplow is not None]
            print(json.dumps(all(s.flush(timeout=120) for s in senders)), flush=True)
        elif command == "quit":
            break
        else:
            print(json.dumps(round_of(*runs[command])), flush=True)
    client = redis.Redis.from_url(settings["REDIS_URL"])
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


if __name__ == "__main__":
    main()
