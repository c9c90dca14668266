"""Which events go to Snowplow: the event-level analytics a person or an operator can refuse.

Three things stop an event from leaving for Snowplow, while its aggregate
counts in Redis go on: the operator's `snowplow` switch is off; the request it
was tracked in carried an honoured privacy signal (GPC or DNT, decided while
the request is served, since the write may happen later in another thread);
or its user has opted out.
"""

import logging
import sqlite3
from collections.abc import Sequence

from flask import has_request_context, request
from werkzeug.datastructures import EnvironHeaders

from .contexts import pseudonym
from .model import TrackedEvent
from .opt_outs import OptOuts
from .privacy_signals import honoured_signals
from .switches import Switches

log = logging.getLogger(__name__)
SIGNALS_KEY = "internal_events.privacy_signals"


class EventLevel:
    def __init__(self, policy: str, switches: Switches, opt_outs: OptOuts, pseudonym_key: str) -> None:
        self.policy = policy
        self.switches = switches
        self.opt_outs = opt_outs
        self.pseudonym_key = pseudonym_key

    def pseudonym(self, user_id: int | None) -> str | None:
        """How the user appears in the events sent to Snowplow."""
        return pseudonym(self.pseudonym_key, user_id)

    def request_signals(self) -> list[str]:
        """The honoured privacy signals of the request being served ([] outside a request).

        Read once per request and kept in its WSGI environ: a batch asks for each of its events. Read from
        the environ itself: the request's header and query-string objects cost more than the check, and a
        request without a query string (an API call) has no declared signals to parse."""
        if not has_request_context():
            return []
        environ = request.environ
        signals: tuple[str, list[str]] | None = environ.get(SIGNALS_KEY)
        if signals is None or signals[0] != self.policy:
            declared = request.args.get("privacy_signals", "") if environ.get("QUERY_STRING") else ""
            signals = environ[SIGNALS_KEY] = (
                self.policy,
                honoured_signals(self.policy, EnvironHeaders(environ), declared),
            )
        return signals[1]

    def allowed(self, events: Sequence[TrackedEvent]) -> tuple[list[TrackedEvent], int]:
        """(the events that may go to Snowplow, how many were withheld because the opt-outs could not be read)."""
        if not self.switches.is_on("snowplow"):
            return [], 0
        candidates = [event for event in events if event.event_level]
        try:
            opted_out = self.opt_outs.among(event.user_id for event in candidates)
        except sqlite3.Error as error:  # when in doubt, send nothing that carries a person
            log.warning("Opt-outs could not be read, events with a user are not sent to Snowplow: %s", error)
            kept = [event for event in candidates if event.user_id is None]
            return kept, len(candidates) - len(kept)
        return [event for event in candidates if event.user_id not in opted_out], 0
