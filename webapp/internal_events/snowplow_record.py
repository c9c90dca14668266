"""What the Snowplow outbox keeps of an event: a compact record, written when the event is accepted.

Building snowplow-tracker's payload (a structured event, two contexts, base64)
costs the accepting thread about 20 µs an event, and its JSON is four times
larger to store. So the accepting thread only writes down what the payload
needs, the user already pseudonymised, with the event id and time fixed then:
the courier builds the payload when it posts (see snowplow.py), and a repost
after a crash carries the same `eid` (which the collector deduplicates) and times.

Rows written before records existed are tracker payloads: JSON objects without
a `record` key, posted as they are.
"""

import itertools
import os
import time
import uuid
from typing import Any

from .contexts import CATEGORY, event_facts
from .model import BASE_PROPERTIES, TrackedEvent
from .valid_text import valid_text

FORMAT = 1  # the `record` key's value: a later layout gets a new number


class EventIds:
    """Version 4 UUIDs, random per process and counted within it: `uuid4()` reads the kernel's random source
    (a system call) and formats a UUID for every event; this costs a counter and a format.

    74 random bits tell processes apart, 48 counted bits an event of this one; a child of `fork` draws anew.
    """

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        random = str(uuid.uuid4())
        self._prefix = random[:24]  # 8-4-4-4 hex digits and dashes: the version and variant digits included
        self._count = itertools.count(int(random[24:], 16))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFF:012x}"


new_event_id = EventIds()


def record(event: TrackedEvent, pseudonym_key: str) -> dict[str, Any]:
    """The event as the outbox keeps it, accepted now: everything the tracker payload needs, no user id."""
    properties = valid_text(event.properties)  # else Snowplow cannot encode what Redis counted
    return {
        "record": FORMAT,
        "eid": new_event_id(),
        "dtm": int(time.time() * 1000),
        "category": event.category or CATEGORY,
        "action": event.name,
        "base": {k: v for k, v in properties.items() if k in BASE_PROPERTIES},
        "facts": event_facts(event, {k: v for k, v in properties.items() if k not in BASE_PROPERTIES}, pseudonym_key),
    }


def is_record(stored: dict[str, Any]) -> bool:
    """Whether an outbox row (decoded) is a record, rather than a tracker payload an earlier version kept."""
    return "record" in stored
