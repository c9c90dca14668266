"""A Snowplow-compatible collector: receives what the tracker sends, decodes it and keeps it for inspection.

It speaks the tracker protocol's POST path (`/com.snowplowanalytics.snowplow/tp2`)
and GET pixel path (`/i`), and lists what it got like Snowplow Micro does:
`/micro/all`, `/micro/good`, `/micro/bad`, `/micro/reset`. Events are kept in
Redis (the newest KEEP of each kind) so every app process sees the same list.
A tracker resends a batch whose reply it missed: events whose id was already
stored are counted as duplicates and not stored again.

Receiving is open (the server-side tracker posts without a session); the
listings show what users did, so only administrators may read or reset them.
"""

import base64
import binascii
import json
import time
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request

from .auth import admin_required
from .internal_events.contexts import context_errors

bp = Blueprint("collector", __name__)

KEEP = 1000
SEEN_KEEP = 10 * KEEP  # event ids remembered for spotting resent events
PAYLOAD_SCHEMA_PREFIX = "iglu:com.snowplowanalytics.snowplow/payload_data/"
CONTEXTS_SCHEMA_PREFIX = "iglu:com.snowplowanalytics.snowplow/contexts/"
STRUCT_FIELDS = {"se_ca": "category", "se_ac": "action", "se_la": "label", "se_pr": "property", "se_va": "value"}


class BadPayload(ValueError):
    pass


def decode_event(raw):
    """One tracker-protocol event (all values strings) -> (readable event, [problems])."""
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise BadPayload("each event must be an object of string values")
    event = {
        "event_id": raw.get("eid"),
        "event_type": raw.get("e"),
        "app_id": raw.get("aid"),
        "tracker": raw.get("tv"),
        "platform": raw.get("p"),
        "created_at_ms": _int(raw.get("dtm")),
        "sent_at_ms": _int(raw.get("stm")),
    }
    for field, name in STRUCT_FIELDS.items():
        if field in raw:
            event[name] = _float(raw[field]) if field == "se_va" else raw[field]
    problems = [f"missing field '{f}'" for f in ("e", "eid") if not raw.get(f)]
    contexts = _contexts(raw, problems)
    event["contexts"] = contexts
    for context in contexts:
        for error in context_errors(context.get("schema"), context.get("data")):
            problems.append(f"context {context.get('schema')}: {error}")
    return event, problems


def _contexts(raw, problems):
    try:
        if "cx" in raw:
            text = base64.urlsafe_b64decode(raw["cx"] + "=" * (-len(raw["cx"]) % 4)).decode()
        elif "co" in raw:
            text = raw["co"]
        else:
            return []
        envelope = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        problems.append(f"contexts cannot be decoded: {error}")
        return []
    if not (isinstance(envelope, dict) and str(envelope.get("schema", "")).startswith(CONTEXTS_SCHEMA_PREFIX)
            and isinstance(envelope.get("data"), list)):
        problems.append("contexts must be a self-describing contexts envelope")
        return []
    return [c for c in envelope["data"] if isinstance(c, dict)]


def _int(text):
    return int(text) if text and text.isdigit() else None


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _store():
    events = current_app.extensions["internal_events"]
    return events.counters.redis, events.counters.keys


def _keep(kind, records):
    redis, keys = _store()
    key = keys.internal(f"collector:{kind}")
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(key, *[json.dumps(r) for r in records])
    pipe.ltrim(key, 0, KEEP - 1)
    pipe.execute()


def _first_arrivals(events):
    """The events whose id this collector has not seen before; counts the others as duplicates."""
    redis, keys = _store()
    seen, duplicates = keys.internal("collector:seen"), keys.internal("collector:duplicates")
    now = time.time()
    pipe = redis.pipeline(transaction=False)
    for event in events:
        pipe.zadd(seen, {event["event_id"]: now}, nx=True)
    pipe.zremrangebyrank(seen, 0, -SEEN_KEEP - 1)
    added = pipe.execute()[:-1]
    first = [event for event, new in zip(events, added) if new]
    if len(first) < len(events):
        redis.incrby(duplicates, len(events) - len(first))
    return first


def _receive(raw_events):
    received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    good, bad = [], []
    for raw in raw_events:
        try:
            event, problems = decode_event(raw)
        except BadPayload as error:
            bad.append({"errors": [str(error)], "raw": raw, "received_at": received_at})
            continue
        event["received_at"] = received_at
        if problems:
            bad.append({"errors": problems, "event": event, "raw": raw, "received_at": received_at})
        else:
            good.append(event)
    new = _first_arrivals(good) if good else []
    if new:
        _keep("good", new)
    if bad:
        _keep("bad", bad)
    return new, bad, len(good) - len(new)


@bp.post("/com.snowplowanalytics.snowplow/tp2")
def receive_post():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return jsonify(error="body must be a Snowplow payload_data JSON object with a 'data' list"), 400
    if not str(body.get("schema", "")).startswith(PAYLOAD_SCHEMA_PREFIX):
        return jsonify(error=f"schema must be {PAYLOAD_SCHEMA_PREFIX}..."), 400
    good, bad, duplicates = _receive(body["data"])
    return jsonify(good=len(good), bad=len(bad), duplicates=duplicates)


@bp.get("/i")
def receive_get():
    good, bad, duplicates = _receive([request.args.to_dict()])
    return jsonify(good=len(good), bad=len(bad), duplicates=duplicates)


def stored_events(kind="good", limit=KEEP):
    """The newest `limit` events of `kind` ("good" or "bad") this collector received, newest first."""
    redis, keys = _store()
    return [json.loads(r) for r in redis.lrange(keys.internal(f"collector:{kind}"), 0, max(limit, 1) - 1)]


def _listing(kind):
    records = stored_events(kind)
    action = request.args.get("event")
    if action:
        records = [r for r in records if (r.get("event", r)).get("action") == action]
    return records


@bp.get("/micro/all")
@admin_required
def micro_all():
    good, bad = _listing("good"), _listing("bad")
    redis, keys = _store()
    duplicates = int(redis.get(keys.internal("collector:duplicates")) or 0)
    return jsonify(total=len(good) + len(bad), good=len(good), bad=len(bad), duplicates=duplicates)


@bp.get("/micro/good")
@admin_required
def micro_good():
    return jsonify(_listing("good"))


@bp.get("/micro/bad")
@admin_required
def micro_bad():
    return jsonify(_listing("bad"))


@bp.route("/micro/reset", methods=["GET", "POST"])
@admin_required
def micro_reset():
    redis, keys = _store()
    redis.delete(*[keys.internal(f"collector:{name}") for name in ("good", "bad", "seen", "duplicates")])
    return jsonify(total=0, good=0, bad=0, duplicates=0)


def forget(redis, keys, pseudonym):
    """Remove every stored event (good or bad) that mentions `pseudonym`; returns how many were removed.

    Matches the decoded record, so an event whose contexts could not be decoded at all is not found.
    """
    removed = 0
    for kind in ("good", "bad"):
        key = keys.internal(f"collector:{kind}")
        for record in redis.lrange(key, 0, -1):
            if pseudonym.encode() in record:
                removed += redis.lrem(key, 0, record)
    return removed
