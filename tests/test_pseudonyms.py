"""Keyed pseudonyms: the user in a Snowplow event cannot be recovered by hashing every small id."""

import hashlib
import hmac
import multiprocessing
import stat

import pytest

from webapp.internal_events.contexts import STANDARD_CONTEXT, pseudonym
from webapp.internal_events.pseudonym_key import KEY_FILE, pseudonym_key

from helpers import reset_collector


def test_the_pseudonym_is_keyed_not_a_bare_hash():
    assert pseudonym("key-a", 1) != hashlib.sha256(b"1").hexdigest()
    assert pseudonym("key-a", 1) == hmac.new(b"key-a", b"1", hashlib.sha256).hexdigest()


def test_stable_under_one_key_and_different_under_another():
    assert pseudonym("key-a", 1) == pseudonym("key-a", 1)
    assert pseudonym("key-a", 1) != pseudonym("key-b", 1)
    assert pseudonym("key-a", 1) != pseudonym("key-a", 2)
    assert pseudonym("key-a", None) is None


def test_an_unset_key_is_generated_once_into_the_instance_folder(tmp_path):
    first = pseudonym_key(None, tmp_path)
    assert len(first) == 64 and first == pseudonym_key(None, tmp_path) == pseudonym_key("", tmp_path)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert pseudonym_key(None, tmp_path / "other") != first
    assert pseudonym_key("configured", tmp_path) == "configured"


def test_the_event_sent_to_the_collector_carries_the_keyed_pseudonym(make_events, live_server, collector):
    events = make_events(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server, INTERNAL_EVENTS_PSEUDONYM_KEY="rotated-key"
    )
    reset_collector(collector)
    events.track("admin_area_viewed", user_id=1)
    assert events.snowplow.flush(timeout=10)
    (event,) = collector.get("/micro/good").json()
    sent = {c["schema"]: c["data"] for c in event["contexts"]}[STANDARD_CONTEXT]["user_id"]
    assert sent == pseudonym("rotated-key", 1)
    assert sent != hashlib.sha256(b"1").hexdigest()


def _key_in_a_process(folder, start, answers):
    start.wait()
    answers.put(pseudonym_key(None, folder))


@pytest.mark.integration  # several processes
def test_processes_starting_together_agree_on_one_generated_key(tmp_path):
    """gunicorn workers start at once: whoever writes the key file first, every process uses that key."""
    context = multiprocessing.get_context("fork")
    start, answers = context.Barrier(6), context.Queue()
    workers = [context.Process(target=_key_in_a_process, args=(tmp_path, start, answers)) for _ in range(6)]
    for worker in workers:
        worker.start()
    keys = {answers.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(10)
    assert keys == {(tmp_path / KEY_FILE).read_text().strip()}
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left behind
