"""A Snowplow-compatible collector: receives what the tracker sends, decodes it and keeps it for inspection.

It speaks the tracker protocol's POST path (`/com.snowplowanalytics.snowplow/tp2`)
and GET pixel path (`/i`), and lists what it got like Snowplow Micro does:
`/micro/all`, `/micro/good`, `/micro/bad`, `/micro/reset`. Events are kept in
Redis (the newest KEEP of each kind) so every app process sees the same list.
A tracker resends a batch whose reply it missed: events whose id was already
stored are counted as duplicates and not stored again. An id is marked seen only
after its event is stored, so a crash in between makes a resend stored, not lost.

Only the app's own server-side tracker sends here (browsers send through the
usage-data API): a sender must show the collector token (`Authorization: Bearer`,
see `config.collector_token`), and cross-site requests are refused. Each stored
record is at most MAX_RECORD_BYTES and each list keeps KEEP records, which
bounds the store (about 2 x 1000 x 16 KiB). The listings show what users did,
so only administrators may read them, and resetting takes a POST with the CSRF token.
Whatever was stored, reading it never fails: records are made valid JSON on the way out.
"""

import base64
import binascii
import hmac
import json
import math
import time
from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .errors import http_error
from . import csrf
from .internal_events.extension import admin_required
from .internal_events.settings import collector_token
from .internal_events.contexts import context_errors
from .internal_events.valid_text import valid_json, valid_text

bp = Blueprint("collector", __name__)
bp.register_error_handler(HTTPException, http_error)  # the API's JSON errors, whatever the host app does

KEEP = 1000
SEEN_KEEP = 10 * KEEP  # event ids remembered for spotting resent events
PAYLOAD_SCHEMA_PREFIX = "iglu:com.snowplowanalytics.snowplow/payload_data/"
CONTEXTS_SCHEMA_PREFIX = "iglu:com.snowplowanalytics.snowplow/contexts/"
STRUCT_FIELDS = {"se_ca": "category", "se_ac": "action", "se_la": "label", "se_pr": "property", "se_va": "value"}
MAX_RECORD_BYTES = 16 * 1024  # one stored event, decoded; our tracker's are about 1-2 KiB
MAX_EVENT_ID_LENGTH = 64  # a UUID is 36
MAX_CONTEXT_DEPTH = 32  # our contexts are 3 deep; deeper is refused before schema checks recurse
LATEST_TIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z: later times cannot be shown as dates


class BadPayload(ValueError):
    pass


def decode_event(raw):
    """One tracker-protocol event (all values strings) -> (readable event, [problems])."""
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise BadPayload("each event must be an object of string values")
    raw = valid_text(raw)
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
    problems += _time_problems(raw, event)
    if "se_va" in raw and event["value"] is None:
        problems.append(f"se_va {raw['se_va'][:40]!r} is not a finite number")
    if len(raw.get("eid") or "") > MAX_EVENT_ID_LENGTH:
        problems.append(f"eid is longer than {MAX_EVENT_ID_LENGTH} characters")
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
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError) as error:
        problems.append(f"contexts cannot be decoded: {type(error).__name__}")
        return []
    if not _depth_at_most(envelope, MAX_CONTEXT_DEPTH):
        problems.append(f"contexts are nested deeper than {MAX_CONTEXT_DEPTH} levels")
        return []
    if not (isinstance(envelope, dict) and str(envelope.get("schema", "")).startswith(CONTEXTS_SCHEMA_PREFIX)
            and isinstance(envelope.get("data"), list)):
        problems.append("contexts must be a self-describing contexts envelope")
        return []
    return [c for c in envelope["data"] if isinstance(c, dict)]


def _time_problems(raw, event):
    """Device and sent times must be dates a page can show; others are set aside (None) and reported."""
    problems = []
    for field, name in (("dtm", "created_at_ms"), ("stm", "sent_at_ms")):
        if event[name] is not None and event[name] > LATEST_TIME_MS:
            problems.append(f"{field} is after the year 9999")
            event[name] = None
    return problems


def _int(text):
    return int(text) if text and text.isdigit() and len(text) <= 20 else None


def _float(text):
    """A finite number, else None (NaN and Infinity are not JSON and not Snowplow values)."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _depth_at_most(value, limit):
    """True when `value` nests lists and objects no deeper than `limit`; checked without recursion."""
    level = [value]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return True
    return False


def _capped(record):
    """The record as stored: JSON of at most MAX_RECORD_BYTES, else what it was and why it was cut."""
    text = json.dumps(record)
    if len(text) <= MAX_RECORD_BYTES:
        return text
    event = record.get("event", record)
    return json.dumps({"errors": [*record.get("errors", []), f"event of {len(text)} bytes is over "
                                  f"{MAX_RECORD_BYTES}: only its id and action are kept"],
                       "event_id": str(event.get("event_id"))[:MAX_EVENT_ID_LENGTH],
                       "action": str(event.get("action"))[:255], "received_at": record.get("received_at")})


def _store():
    events = current_app.extensions["internal_events"]
    return events.counters.redis, events.counters.keys


def _keep(kind, records):
    redis, keys = _store()
    key = keys.internal(f"collector:{kind}")
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(key, *[_capped(r) for r in records])
    pipe.ltrim(key, 0, KEEP - 1)
    pipe.execute()


def _unseen(events):
    """The events whose id this collector has not stored before (nor twice in this batch); counts the others."""
    redis, keys = _store()
    ids = [event["event_id"] for event in events]
    scores = redis.zmscore(keys.internal("collector:seen"), ids)
    new, taken = [], set()
    for event, score in zip(events, scores):
        if score is None and event["event_id"] not in taken:
            new.append(event)
            taken.add(event["event_id"])
    if len(new) < len(events):
        redis.incrby(keys.internal("collector:duplicates"), len(events) - len(new))
    return new


def _mark_seen(events):
    """Remember stored events' ids (after storing them: a crash in between leaves a resend stored, not lost)."""
    redis, keys = _store()
    seen = keys.internal("collector:seen")
    now = time.time()
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(seen, {event["event_id"]: now for event in events})
    pipe.zremrangebyrank(seen, 0, -SEEN_KEEP - 1)
    pipe.incrby(keys.internal("collector:received"), len(events))
    pipe.execute()


def _receive(raw_events):
    received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    good, bad = [], []
    for raw in raw_events:
        try:
            event, problems = decode_event(raw)
        except BadPayload as error:
            kept = valid_json(raw) if _depth_at_most(raw, MAX_CONTEXT_DEPTH) else "(nested too deeply to keep)"
            bad.append({"errors": [str(error)], "raw": kept, "received_at": received_at})
            continue
        event["received_at"] = received_at
        if not problems and len(json.dumps(event)) > MAX_RECORD_BYTES:
            problems = [f"event is over {MAX_RECORD_BYTES} bytes decoded"]
        if problems:
            bad.append({"errors": problems, "event": event, "raw": valid_text(raw), "received_at": received_at})
        else:
            good.append(event)
    new = _unseen(good) if good else []
    if new:
        _keep("good", new)
        _mark_seen(new)
    if bad:
        _keep("bad", bad)
    return new, bad, len(good) - len(new)


def _refuse_foreign_senders():
    """Only the app's own tracker sends here: not a browser on another site, not anyone without the token."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403, "cross-site requests are refused: this collector takes events from its app's server only")
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        abort(403, f"requests from {origin[:100]} are refused: this collector takes events from its app's server only")
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {collector_token(current_app.config)}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        abort(401, "the collector token is missing or wrong: send 'Authorization: Bearer <token>' "
                   "(SNOWPLOW_COLLECTOR_TOKEN, or derived from SECRET_KEY when unset)")


@bp.post("/com.snowplowanalytics.snowplow/tp2")
def receive_post():
    _refuse_foreign_senders()
    if request.mimetype != "application/json":
        abort(415, "body must be application/json (a Snowplow payload_data JSON object)")
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):  # undecodable, or nested past what the parser can follow
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return jsonify(error="body must be a Snowplow payload_data JSON object with a 'data' list"), 400
    if not str(body.get("schema", "")).startswith(PAYLOAD_SCHEMA_PREFIX):
        return jsonify(error=f"schema must be {PAYLOAD_SCHEMA_PREFIX}..."), 400
    good, bad, duplicates = _receive(body["data"])
    return jsonify(good=len(good), bad=len(bad), duplicates=duplicates)


@bp.get("/i")
def receive_get():
    _refuse_foreign_senders()
    good, bad, duplicates = _receive([request.args.to_dict()])
    return jsonify(good=len(good), bad=len(bad), duplicates=duplicates)


def stored_events(kind="good", limit=KEEP):
    """The newest `limit` events of `kind` ("good" or "bad") this collector received, newest first.

    Whatever was stored (by older versions too), what comes out is valid JSON a page can show.
    """
    redis, keys = _store()
    return [_readable(r) for r in redis.lrange(keys.internal(f"collector:{kind}"), 0, max(limit, 1) - 1)]


def _readable(stored):
    try:
        record = valid_json(json.loads(stored))
    except (ValueError, RecursionError):
        return {"errors": ["this stored record cannot be read"]}
    if not isinstance(record, dict):
        return {"errors": ["this stored record is not an object"]}
    for name in ("created_at_ms", "sent_at_ms"):
        if not isinstance(record.get(name), int) or not 0 <= record[name] <= LATEST_TIME_MS:
            record.pop(name, None)
    if "contexts" in record:  # a good event's: the dashboard reads each one's data
        contexts = record["contexts"] if isinstance(record["contexts"], list) else []
        record["contexts"] = [c for c in contexts if isinstance(c, dict) and isinstance(c.get("data"), dict)]
    return record


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
    duplicates, received = redis.mget(keys.internal("collector:duplicates"), keys.internal("collector:received"))
    return jsonify(total=len(good) + len(bad), good=len(good), bad=len(bad), duplicates=_count(duplicates),
                   received=_count(received))


def _count(stored):
    return int(stored) if stored and stored.isdigit() else 0


@bp.get("/micro/good")
@admin_required
def micro_good():
    return jsonify(_listing("good"))


@bp.get("/micro/bad")
@admin_required
def micro_bad():
    return jsonify(_listing("bad"))


@bp.post("/micro/reset")
@admin_required
def micro_reset():
    """Forget everything received. A POST with the session's CSRF token (form field or X-CSRF-Token)."""
    if not csrf.is_valid(request.form.get(csrf.FORM_FIELD) or request.headers.get(csrf.HEADER)):
        abort(403, "CSRF token missing or invalid: reload the page and try again")
    redis, keys = _store()
    redis.delete(*[keys.internal(f"collector:{name}") for name in ("good", "bad", "seen", "duplicates", "received")])
    return jsonify(total=0, good=0, bad=0, duplicates=0, received=0)


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
