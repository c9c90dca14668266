"""Reading usage-data request bodies: JSON from `fetch` or from `navigator.sendBeacon` (text/plain).

Only the shape is checked here (types, fields, counts); whether an event exists and
what its properties may be is the tracking core's business.
"""

import json

from ..internal_events.ids import RANGE as ID_RANGE
from ..internal_events.ids import is_id

MAX_EVENTS = 50  # GitLab's limit for one track_events request
EVENT_FIELDS = ("event", "namespace_id", "project_id", "additional_properties", "send_to_snowplow")
KNOWN_FIELDS = frozenset(EVENT_FIELDS)  # the usual body: one set comparison, nothing to name
MAX_ECHOED_NAME = 100


class PayloadError(ValueError):
    """The body cannot be used as sent; the message names the problem."""


def shown(value, limit=60):
    """A value quoted for an error message, cut short so a hostile one cannot flood the answer."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse(raw):
    try:
        return json.loads(raw)
    except RecursionError:
        raise PayloadError("body is not valid JSON: nested too deeply") from None
    except ValueError as error:  # also invalid UTF-8 and too-long integers
        raise PayloadError(f"body is not valid JSON: {error}") from None


def event_call(item):
    """One event as sent -> the tracking call's arguments (`event` plus ids and properties)."""
    if not isinstance(item, dict):
        raise PayloadError(f"an event must be a JSON object, got {type(item).__name__}")
    unknown = [] if item.keys() <= KNOWN_FIELDS else sorted(key for key in item if key not in EVENT_FIELDS)
    if "user_id" in unknown:
        raise PayloadError("user_id cannot be sent: events are always recorded for the signed-in user")
    if unknown:
        raise PayloadError(f"unknown field {shown(unknown[0])}; allowed fields: {', '.join(EVENT_FIELDS)}")
    name = item.get("event")
    if name is None:
        raise PayloadError("missing field 'event'")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"'event' must be a non-empty string, got {shown(name)}")
    for field in ("namespace_id", "project_id"):
        value = item.get(field)
        if value is not None and not is_id(value):
            raise PayloadError(f"'{field}' must be {ID_RANGE} or null, got {shown(value)}")
    properties = item.get("additional_properties")
    if properties is not None and not isinstance(properties, dict):
        raise PayloadError(f"'additional_properties' must be a JSON object, got {shown(properties)}")
    send = item.get("send_to_snowplow")
    if send is not None and not isinstance(send, bool):
        raise PayloadError(f"'send_to_snowplow' must be true or false, got {shown(send)}")
    return {field: item.get(field) for field in EVENT_FIELDS}


def batch(body):
    """The list of events of a track_events body, each still unchecked."""
    if not isinstance(body, dict) or "events" not in body:
        raise PayloadError('body must be a JSON object {"events": [...]}')
    extra = sorted(key for key in body if key != "events")
    if extra:
        raise PayloadError(f"unknown field {shown(extra[0])}; the body has only 'events'")
    events = body["events"]
    if not isinstance(events, list):
        raise PayloadError(f"'events' must be a list, got {type(events).__name__}")
    if not events:
        raise PayloadError("'events' is empty: send at least one event")
    if len(events) > MAX_EVENTS:
        raise PayloadError(f"Maximum {MAX_EVENTS} events allowed in one request.")
    return events
