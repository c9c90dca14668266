"""Helpers for tests of apps that track internal events, in Python or from a browser.

    from webapp.testing import trigger_internal_events

    with trigger_internal_events(app, "project_starred", user_id=1, namespace_id=2, project_id=3):
        client.post("/projects/3/star")

    with trigger_internal_events(app, "clone_button_clicked", page=page, additional_properties={"label": "ssh"}):
        page.get_by_role("button", name="Copy").click()

The block must record exactly the named events (a name given twice: twice), each
with the given ids and properties; `trigger_internal_events(app)` asserts that
nothing was recorded. Events are observed where the app records them, so the app
must run in the test's process (the test client, or a live server in a thread).
"""

import time
from collections import Counter
from contextlib import contextmanager

from flask import Flask

from .internal_events.model import Rule

CHECKED_FIELDS = ("user_id", "namespace_id", "project_id", "source")
POLL_SECONDS = 0.02


def _internal_events(target):
    return target.extensions["internal_events"] if isinstance(target, Flask) else target


@contextmanager
def trigger_internal_events(target, *event_names, page=None, timeout=5.0, additional_properties=None, **ids):
    """Assert the block records exactly `event_names`, each with `ids` (user_id, namespace_id, project_id, source).

    `target` is the Flask app or its InternalEvents. With `page` (Playwright), the
    page's tracker is flushed when the block ends; events sent by a page that
    navigated away are waited for, up to `timeout` seconds.
    """
    unknown = set(ids) - set(CHECKED_FIELDS)
    if unknown:
        raise TypeError(f"unexpected arguments: {', '.join(sorted(unknown))}")
    events = _internal_events(target)
    recorded = []
    original, shadowed = events.record, "record" in vars(events)  # shadowed: nested in another helper

    def spy(batch, **options):
        recorded.extend(batch)
        return original(batch, **options)

    events.record = spy
    try:
        yield recorded
        if page is not None:
            _flush_page(page)
        deadline = time.monotonic() + timeout
        while len(recorded) < len(event_names) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    finally:
        if shadowed:
            events.record = original
        else:
            del events.record  # back to the class's method
    events.flush()
    _check(recorded, event_names, ids, additional_properties)


def _flush_page(page):
    try:
        page.evaluate("() => window.InternalEvents && window.InternalEvents.flush()")
    except Exception:  # the page is navigating or closed: its events left as beacons
        pass


def _check(recorded, event_names, ids, additional_properties):
    seen = [event.name for event in recorded]
    assert Counter(seen) == Counter(event_names), f"expected events {sorted(event_names)}, recorded {sorted(seen)}"
    for event in recorded:
        for field, expected in ids.items():
            actual = getattr(event, field)
            assert actual == expected, f"{event.name}: expected {field}={expected!r}, got {actual!r}"
        if additional_properties is not None:
            assert event.properties == additional_properties, (
                f"{event.name}: expected additional_properties={additional_properties!r}, got {event.properties!r}"
            )


def tracked_total(target, event_name):
    """How many times `event_name` was counted, read from Redis (the event's all-time total)."""
    events = _internal_events(target)
    events.flush()
    counters = events.counters
    return int(counters.redis.get(counters.keys.all_time(Rule(event_name))) or 0)
