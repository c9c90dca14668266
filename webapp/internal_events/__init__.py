"""Internal Events: define events and metrics in YAML, then one call counts and sends them.

    from webapp.internal_events import InternalEvents, track_event
    InternalEvents(app)                      # once, where the app is made (see extension.py)
    track_event("project_created", user=user, project=project)

Inside a Flask app the app's configuration is used; in scripts and background
workers the same settings are read from the environment.
"""

import threading
from pathlib import Path

from flask import has_app_context

from .assembly import build
from .errors import (
    InvalidArgumentError,
    InvalidIdentifierError,
    InvalidPropertyError,
    MissingIdentifierError,
    TrackingError,
    UnknownEventError,
)
from .extension import TRACKER, InternalEvents, NotInitialized, set_up
from .settings import from_environment

__all__ = [
    "InternalEvents",
    "track_event",
    "track_events",
    "current",
    "TrackingError",
    "UnknownEventError",
    "InvalidPropertyError",
    "InvalidIdentifierError",
    "InvalidArgumentError",
    "MissingIdentifierError",
    "NotInitialized",
]

_standalone = None
_standalone_lock = threading.Lock()


def current():
    """The tracker of the current Flask app, or one configured from the environment (run from the project's folder)."""
    if has_app_context():
        return set_up(TRACKER)
    global _standalone
    with _standalone_lock:
        if _standalone is None:
            config = from_environment()
            config["INTERNAL_EVENTS_DEFINITIONS"] = config["INTERNAL_EVENTS_DEFINITIONS"] or "definitions"
            _standalone = build(config, Path("instance").resolve())
        _standalone.live_definitions.watch()  # a worker outside an app follows edits from its first call on
        return _standalone


def track_event(event_name, **arguments):
    """Count `event_name` in every metric that uses it and send it to Snowplow.

    Arguments: `user`, `namespace`, `project` (objects with `.id`; a project's
    `.namespace` or `.namespace_id` fills in a missing namespace) or `user_id`,
    `namespace_id`, `project_id`; `additional_properties` (`label`, `property`,
    `value` and the event's declared custom properties, or those as keyword
    arguments); GitLab's `category`, `send_snowplow_event` and
    `feature_enabled_by_namespace_ids`. Returns True when recorded.
    """
    return current().track(event_name, **arguments)


def track_events(calls):
    """Track many events in one Redis round trip: each call is a dict of track_event's arguments plus `event`."""
    return current().track_many(calls)
