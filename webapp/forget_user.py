"""Forgetting a user: removing what per-user data can be removed.

Removed: their id from events waiting in the spool (those still count in
totals at replay), their events waiting in the Snowplow outbox (never sent),
and the collector's stored events carrying their pseudonym.
Not removable: HyperLogLogs hold no elements, only registers that many
elements share, so one user cannot be taken out of a unique count; events
already sent to a real Snowplow pipeline live in its warehouse, where the
returned pseudonym is what to delete. An opt-out stays: if the account lives
on, it must go on being honoured.
"""

import json

from . import collector
from .internal_events.delivery import REDIS_FAILURES
from .internal_events.snowplow_record import is_record


def forget_user(tracker, user_id):
    """{"pseudonym", "spooled_events", "outbox_events", "collector_events", "collector_error"}: what was forgotten.

    The files come first: they need no Redis, so an outage still lets them forget.
    """
    counters, sender = tracker.counters, tracker.snowplow
    pseudonym = tracker.privacy.pseudonym(user_id)
    forgotten = {
        "pseudonym": pseudonym,
        "spooled_events": tracker.delivery.spool.forget_user(user_id),
        "outbox_events": sender.outbox.forget(lambda stored: _carries(stored, pseudonym)) if sender else 0,
        "collector_events": None,
        "collector_error": None,
    }
    try:
        forgotten["collector_events"] = collector.forget(counters.redis, counters.keys, pseudonym)
    except REDIS_FAILURES as error:
        forgotten["collector_error"] = f"{type(error).__name__}: {error}"
    return forgotten


def _carries(stored, pseudonym):
    """Whether an outbox row names `pseudonym`: a record's user, or a tracker payload's contexts (base64 or not)."""
    if is_record(stored):
        return stored["facts"]["user_id"] == pseudonym
    try:
        event, _ = collector.decode_event(stored)
    except collector.BadPayload:
        return False
    return pseudonym in json.dumps(event["contexts"])
