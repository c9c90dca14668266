"""The spool shared by several processes: appends never overfill it, and each app replays only its own batches."""

import multiprocessing
import os

from webapp.internal_events.assembly import build
from webapp.internal_events.model import TrackedEvent
from webapp.internal_events.spool import Spool
from webapp.internal_events.windows import today

from servers import free_port

EVENT = TrackedEvent(
    name="project_created", user_id=1, namespace_id=2, project_id=3, properties={"label": "x", "value": 1.5}
)


def spool_from_a_worker(config, batches):
    """What one gunicorn worker does while Redis is down: track, which spools."""
    events = build(config, config["INTERNAL_EVENTS_SPOOL_PATH"] + ".instance")
    for user_id in range(batches):
        events.track_many([{"event": "project_created", "user_id": user_id, "project_id": 1, "namespace_id": 1}] * 2)
    os._exit(0)


def test_workers_spooling_at_once_fill_it_exactly_to_the_limit(config):
    config = {**config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}", "INTERNAL_EVENTS_SPOOL_LIMIT": 300}
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=spool_from_a_worker, args=(config, 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]

    counts = build(config, config["INTERNAL_EVENTS_SPOOL_PATH"] + ".instance").delivery.status()
    assert (counts["pending"], counts["dropped"], counts["batches"]) == (300, 100, 150)


def test_batches_go_back_only_to_their_own_target(tmp_path):
    path = tmp_path / "spool.sqlite3"
    first, second = Spool(path, 100, target="a"), Spool(path, 100, target="b")
    assert first.append("w1", 1, today(), [EVENT, EVENT])
    assert second.append("w2", 1, today(), [EVENT])

    [batch] = first.oldest(10)
    assert (batch.writer, batch.number, batch.day, batch.events) == ("w1", 1, today(), [EVENT, EVENT])
    assert [b.writer for b in second.oldest(10)] == ["w2"]
    first.remove([batch.id])
    first.remove([batch.id])  # a second replay of the same batch changes nothing
    nothing_else = {"quarantined": 0, "file_replaced": 0, "error": None}
    assert first.counts() == {"pending": 0, "dropped": 0, "replayed": 2, "batches": 0, **nothing_else}
    assert second.counts() == {"pending": 1, "dropped": 0, "replayed": 0, "batches": 1, **nothing_else}
