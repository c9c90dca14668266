"""GitLab's usage-data API: the browser records internal events for the signed-in user.

    POST /api/v4/usage_data/track_event   {"event": "...", "namespace_id": 1, "project_id": 2,
                                           "additional_properties": {...}, "send_to_snowplow": true}
    POST /api/v4/usage_data/track_events  {"events": [<as above>, ...]}   (at most 50)
    GET  /api/v4/usage_data/service_ping  (administrators)

Events go through the same core as `track_event` in Python: counted in Redis and
sent to Snowplow from the server, with `source: "browser"` in the standard context.
The user is always the session's; ids must name a project or namespace that user
can see, or the event is refused and nothing is counted.
"""

import functools
import json
import logging

from flask import Blueprint, abort, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable, TooManyRequests

from .. import csrf
from ..errors import http_error
from ..internal_events import TrackingError, UnknownEventError, current
from ..internal_events.delivery import REDIS_FAILURES
from ..internal_events.extension import admin_required, extension
from ..internal_events.instance_uuid import instance_uuid
from ..internal_events.service_ping import SERVICE_PING_OFF
from ..internal_events.service_ping import service_ping as service_ping_payload
from . import payload, rate_limit
from .same_origin import cross_site_problem

bp = Blueprint("usage_data", __name__, url_prefix="/api/v4/usage_data")
bp.register_error_handler(HTTPException, http_error)  # the API's JSON errors, whatever the host app does
log = logging.getLogger(__name__)
BODY_TYPES = ("application/json", "text/plain")  # text/plain: navigator.sendBeacon with a string
UNAVAILABLE_RETRY_AFTER = 5  # seconds


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


@bp.record_once
def _set_up_rate_limit(state):
    config = state.app.config
    state.app.extensions["usage_data_rate_limit"] = rate_limit.RateLimit(
        config["INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT"], config["INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW"]
    )


@bp.before_request
def require_user():
    g.tracking_user = extension().current_user()
    if g.tracking_user is None:
        abort(401, "sign in to record events: the usage-data API records events for the signed-in user only")


@bp.post("/track_event")
def track_event():
    call, tracker = _checked(payload.event_call, _body()), current()
    _limit_rate(1, tracker)
    try:
        event = _prepare(call, _Visible(g.tracking_user), tracker)
    except Refused as refused:
        abort(refused.status, str(refused))
    _record([event], tracker)
    return current_app.response_class(_accepted(call["event"]), mimetype="application/json")


@bp.post("/track_events")
def track_events():
    items, tracker = _checked(payload.batch, _body()), current()
    _limit_rate(len(items), tracker)
    visible, prepared, results = _Visible(g.tracking_user), [], []
    for item in items:
        try:
            call = _checked_event(item)
            prepared.append(_prepare(call, visible, tracker))
            results.append({"event": call["event"], "accepted": True})
        except Refused as refused:
            results.append(
                {"event": _echoed_name(item), "accepted": False, "status": refused.status, "error": str(refused)}
            )
    _record(prepared, tracker)
    return jsonify(results=results, accepted=len(prepared), refused=len(results) - len(prepared))


@bp.get("/service_ping")
@admin_required
def service_ping():
    if not current().privacy.switches.is_on("service_ping"):
        abort(403, SERVICE_PING_OFF)
    return jsonify(service_ping_payload(current(), instance_uuid(current_app.instance_path)))


@functools.lru_cache(maxsize=1024)
def _accepted(name):
    """track_event's answer, as jsonify writes it, encoded once per event name (all are defined ones)."""
    return json.dumps({"accepted": True, "event": name}, separators=(",", ":")) + "\n"


# -- the request ------------------------------------------------------------------------------


def _body():
    """The parsed JSON body of a same-site request of bounded size, or an error answer."""
    problem = cross_site_problem(request.headers, f"{request.scheme}://{request.host}")
    if problem and not csrf.is_valid(request.headers.get(csrf.HEADER)):
        abort(403, problem)
    if request.mimetype and request.mimetype not in BODY_TYPES:
        abort(415, f"body must be sent as application/json or text/plain, not {request.mimetype[:60]}")
    limit = current_app.config["INTERNAL_EVENTS_USAGE_DATA_MAX_BODY_BYTES"]
    too_large = f"body is larger than {limit} bytes: send fewer events per request"
    # One byte over the limit is read (bodies without Content-Length stop there) to tell "too large" apart.
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:  # Content-Length says so before reading
        abort(413, too_large)
    if len(raw) > limit:
        abort(413, too_large)
    return _checked(payload.parse, raw)


def _checked(parse, value):
    try:
        return parse(value)
    except payload.PayloadError as error:
        abort(400, str(error))


def _checked_event(item):
    try:
        return payload.event_call(item)
    except payload.PayloadError as error:
        raise Refused(400, str(error)) from None


def _limit_rate(amount, tracker):
    limit, counters = current_app.extensions["usage_data_rate_limit"], tracker.counters
    try:
        wait = limit.retry_after(counters.redis, counters.keys.prefix, g.tracking_user.id, amount)
    except REDIS_FAILURES as error:  # without Redis nothing is counted anyway: let the core decide
        log.warning("Rate limit not checked, Redis unavailable: %s", error)
        return
    if wait is not None:
        raise TooManyRequests(
            f"rate limit of {limit.limit} events per {limit.window} s reached: retry in {wait} s", retry_after=wait
        )


def _record(prepared, tracker):
    """Keep the events, or answer 503 with Retry-After: a 200 promises they survive any process's death."""
    if not tracker.accepting() or not tracker.record(prepared, caller_keeps=True):
        raise ServiceUnavailable(
            f"events cannot be stored right now (Redis unavailable and the spool full or "
            f"unwritable): retry in {UNAVAILABLE_RETRY_AFTER} s",
            retry_after=UNAVAILABLE_RETRY_AFTER,
        )


# -- one event --------------------------------------------------------------------------------


def _echoed_name(item):
    """The refused event's name for its result, unless it is no name at all or absurdly long."""
    name = item.get("event") if isinstance(item, dict) else None
    return name if isinstance(name, str) and len(name) <= payload.MAX_ECHOED_NAME else None


class _Visible:
    """The projects and namespaces of one request the user can see, each looked up once."""

    def __init__(self, user):
        self.user, self.host = user, extension()
        self._projects, self._namespaces = {}, {}

    def project(self, project_id):
        if project_id not in self._projects:
            self._projects[project_id] = self.host.visible_project(self.user, project_id)
        return self._projects[project_id]

    def namespace(self, namespace_id):
        if namespace_id not in self._namespaces:
            self._namespaces[namespace_id] = self.host.visible_namespace(self.user, namespace_id)
        return self._namespaces[namespace_id]


def _prepare(call, visible, tracker):
    """The core's TrackedEvent for one checked call, or Refused with the status and reason."""
    definition = tracker.definitions.events.get(call["event"])
    if definition is not None and definition.server_side_only:
        raise Refused(
            403, f"event {payload.shown(call['event'])} is recorded by the server only: browsers cannot send it"
        )
    project, namespace, namespace_id = None, None, None
    if call["project_id"] is not None:
        project = visible.project(call["project_id"])
        if project is None:
            raise Refused(404, f"project {call['project_id']} not found")
        namespace_id = visible.host.namespace_id_of(project)
        if call["namespace_id"] not in (None, namespace_id):
            raise Refused(
                400,
                f"namespace_id {call['namespace_id']} is not the namespace of project "
                f"{project.id} (namespace {namespace_id})",
            )
        namespace = getattr(project, "namespace", None)  # the host's namespace object carries its plan
    elif call["namespace_id"] is not None:
        namespace = visible.namespace(call["namespace_id"])
        if namespace is None:
            raise Refused(404, f"namespace {call['namespace_id']} not found")
    try:
        return tracker.prepare(
            call["event"],
            user_id=visible.user.id,
            namespace=namespace,
            project=project,
            namespace_id=None if namespace is not None else namespace_id,
            additional_properties=call["additional_properties"],
            source="browser",
            send_snowplow_event=call["send_to_snowplow"] is not False,
            strict=True,
        )
    except UnknownEventError:
        raise Refused(400, f"unknown event {payload.shown(call['event'])}") from None
    except TrackingError as error:
        raise Refused(400, str(error)) from None
