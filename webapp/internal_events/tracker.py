"""The one call that does everything: validate an event, update its Redis counters, send it to Snowplow.

`prepare` turns a call into a TrackedEvent or raises a TrackingError; `record`
writes any number of prepared events in one Redis round trip and queues them
for Snowplow. `track`/`track_many` put both together with the environment's
error policy: raise in development and test, log and count in production.
"""

import logging
import math
from collections import Counter
from types import MappingProxyType

from .delivery import REDIS_FAILURES
from .errors import (
    InvalidArgumentError,
    InvalidIdentifierError,
    InvalidPropertyError,
    MissingIdentifierError,
    TrackingError,
    UnknownEventError,
)
from .history import DailyPass
from .ids import RANGE as ID_RANGE
from .ids import is_id
from .model import BASE_PROPERTIES, CUSTOM_PROPERTY_TYPES, IDENTIFIERS, TrackedEvent
from .windows import today
from .writer import BackgroundWriter

log = logging.getLogger("webapp.internal_events")

MAX_STRING_LENGTH = 255
WITHHELD_KEY = "snowplow_withheld_opt_outs_unreadable"
# Numbers Snowplow's se_value (a double) and JavaScript hold exactly; sums of them stay far below what
# Redis's INCRBYFLOAT and its replies can hold, so one event can never poison a batch.
MAX_NUMBER = 2**53


class Tracker:
    def __init__(
        self,
        definitions,
        counters,
        delivery,
        privacy,
        snowplow=None,
        environment="production",
        raise_errors=False,
        write_behind=False,
    ):
        self.live_definitions = definitions
        self.counters = counters
        self.delivery = delivery
        self.privacy = privacy  # an EventLevel: which events may go to Snowplow
        self.snowplow = snowplow
        self.environment = environment
        self.raise_errors = raise_errors
        self.writer = BackgroundWriter(self.write, delivery.next_batch, delivery.journal) if write_behind else None
        if snowplow is not None:
            delivery.taken_over = self._taken_over
        self.daily_pass = DailyPass(counters, definitions.current)
        self.errors = Counter()  # kind -> count, for this process
        self._needed_ids = (None, {})  # (definitions, event name -> the ids its rules need, see _ids_needed)

    @property
    def definitions(self):
        return self.live_definitions.current()

    # -- the public calls ----------------------------------------------------------------------

    def track(self, event_name, **arguments):
        """Track one event; True when it was recorded. See `prepare` for the arguments."""
        return self.track_many([dict(arguments, event=event_name)])[0] is None

    def track_many(self, calls):
        """Track several events in one Redis round trip.

        Each call is a dict of `prepare`'s keyword arguments plus `event`.
        Returns one entry per call: None when recorded, else the TrackingError.
        In development and test the first invalid call raises before anything is recorded.
        """
        prepared, outcomes = [], []
        for call in calls:
            arguments = dict(call)
            try:
                event = self.prepare(arguments.pop("event", None), **arguments)
            except TrackingError as error:
                if self.raise_errors:
                    raise
                self._count_error(error, call.get("event"))
                outcomes.append(error)
                continue
            prepared.append(event)
            outcomes.append(None)
        self.record(prepared)
        return outcomes

    # -- the two steps -------------------------------------------------------------------------

    def prepare(
        self,
        event_name,
        *,
        user=None,
        namespace=None,
        project=None,
        user_id=None,
        namespace_id=None,
        project_id=None,
        additional_properties=None,
        category=None,
        send_snowplow_event=True,
        feature_enabled_by_namespace_ids=None,
        source="python",
        strict=None,
        **custom_properties,
    ):
        """Validate a call and resolve its ids; raise a TrackingError naming what is wrong.

        GitLab's arguments are accepted: `category` (Snowplow's; default the event
        definition's), `send_snowplow_event=False` (count only),
        `feature_enabled_by_namespace_ids`, and declared properties as keyword
        arguments when `additional_properties` is not given.
        `strict=False` drops undeclared or mistyped properties and tolerates missing
        ids (with a warning) instead of raising; by default it follows the environment.
        """
        strict = self.raise_errors if strict is None else strict
        definitions = self.definitions
        if not isinstance(event_name, str) or event_name not in definitions.events:
            raise UnknownEventError(
                f"Unknown event: {event_name!r}. Define it in {self.live_definitions.folder}/events/"
            )
        definition = definitions.events[event_name]
        additional_properties = self._with_keyword_properties(
            definition, additional_properties, custom_properties, strict
        )
        options = gitlab_options(category, send_snowplow_event, feature_enabled_by_namespace_ids)
        user_id = _object_id("user", user, user_id)
        project_id = _object_id("project", project, project_id)
        if project is not None and namespace is None and namespace_id is None:
            namespace = getattr(project, "namespace", None)
            if namespace is None:
                namespace_id = getattr(project, "namespace_id", None)
        namespace_id = _object_id("namespace", namespace, namespace_id)
        properties = self._checked_properties(definition, additional_properties, strict)
        event = TrackedEvent(
            name=event_name,
            user_id=user_id,
            namespace_id=namespace_id,
            project_id=project_id,
            properties=properties,
            source=source,
            plan=_plan(namespace),
            category=options["category"] or definition.category,
            send_snowplow=options["send_snowplow_event"],
            feature_enabled_by_namespace_ids=options["feature_enabled_by_namespace_ids"],
            event_level=not self.privacy.request_signals(),
        )
        missing = self._missing_for_metrics(definitions, event)
        if missing:
            if strict:
                raise MissingIdentifierError(missing)
            self._count_error(MissingIdentifierError(missing), event_name)
        return event

    def record(self, events, caller_keeps=False):
        """Count prepared events and send them to Snowplow; never raises.

        With write-behind the background writer does it, otherwise the caller.
        True once the events survive this process's death (journaled, in Redis or
        in the spool). False when they could not be kept: lost, logged and counted,
        unless the `caller_keeps` them (to send again later).
        """
        if not events:
            return True
        if self.writer is not None:
            return self.writer.submit(events, today(), caller_keeps)
        return self.write(events, today(), caller_keeps=caller_keeps)

    def accepting(self):
        """False while events cannot be kept (Redis unavailable and the spool full or unwritable)."""
        return self.delivery.accepting()

    def journal_status(self):
        """Where accepted events wait, whether the journal can be written, and what dead processes left."""
        journal = self.delivery.journal
        return {
            "folder": str(journal.folder),
            "write_behind": self.writer is not None,
            "error": self.writer.journal_error if self.writer else None,
            "left_by_dead_processes": sum(1 for _ in journal.orphans()),
        }

    def flush(self, timeout=10.0):
        """Wait until recorded events are in Redis: call before reading counts in the same process."""
        return self.writer is None or self.writer.flush(timeout)

    def write(self, events, day, batch=None, caller_keeps=False):
        """Count events of `day` in Redis in one round trip (in the spool while Redis is unavailable) as `batch`,
        then queue them for Snowplow. True when counted or spooled (see `record` for `caller_keeps`).

        Events not stored that someone keeps are sent again later: they go to Snowplow then, once."""
        definitions = self.definitions
        stored = self.delivery.write(definitions, events, day, batch, caller_keeps)
        self.daily_pass.day_seen(day)
        if self.snowplow is not None and (stored or not (batch or caller_keeps)):
            self._queue_for_snowplow(events, batch)
        return stored

    def close(self):
        """Write what is queued, stop the spool's replay thread and send what Snowplow still has queued."""
        self.flush()
        self.daily_pass.stop()
        self.live_definitions.stop()
        self.delivery.close()
        if self.snowplow is not None:
            self.snowplow.close()

    # -- helpers -------------------------------------------------------------------------------

    def _taken_over(self, batches):
        """A dead process's unfinished batches, now spooled: queue the Snowplow copies its outbox does not hold.

        Each batch is noted in the outbox with its events, so a takeover repeated after a crash queues them once.
        """
        for writer, number, _day, events in batches:
            if not self.snowplow.holds(writer, number):
                self._queue_for_snowplow(events, (writer, number))

    def _queue_for_snowplow(self, events, batch=None):
        """Into the outbox, as one write, the events the switches and privacy decisions let go to Snowplow."""
        sendable, withheld = self.privacy.allowed([event for event in events if event.send_snowplow])
        if withheld:
            self._count_unreadable_opt_outs(withheld)
        try:
            with self.snowplow.batch(batch):  # the events reach the outbox on disk in one write
                for event in sendable:
                    try:
                        self.snowplow.send(event)
                    except Exception:  # a tracker bug must never break the caller
                        self.errors["snowplow"] += 1
                        log.exception("Could not queue event %s for Snowplow", event.name)
        except Exception:  # the outbox cannot be written: the caller's request still succeeds
            self.errors["snowplow_outbox"] += len(sendable)
            log.exception("Could not keep %d event(s) for Snowplow", len(sendable))

    def _with_keyword_properties(self, definition, properties, keywords, strict):
        """GitLab's extract_additional_properties!: declared properties may come as keyword arguments."""
        if not keywords:
            return properties
        if properties:
            problem = (
                f"pass the properties of event '{definition.name}' either in additional_properties or as"
                f" keyword arguments, not both (got {', '.join(sorted(keywords))} as keywords)"
            )
        else:
            declared = {key: keywords.pop(key) for key in list(keywords) if key in definition.properties}
            properties = declared or properties
            problem = keywords and (
                f"unexpected argument(s) {', '.join(sorted(keywords))} for event '{definition.name}': not an id,"
                f" a GitLab option or a property declared in {definition.path}"
                f" (declared: {', '.join(sorted(definition.properties)) or 'none'})"
            )
        if problem:
            if strict:
                raise InvalidArgumentError(problem)
            self._count_error(InvalidArgumentError(problem), definition.name)
        return properties

    def _checked_properties(self, definition, properties, strict):
        if properties is None:
            return {}
        if not isinstance(properties, dict):
            raise InvalidPropertyError(
                f"additional_properties of event '{definition.name}' must be a mapping, got {type(properties).__name__}"
            )
        clean = {}
        for key, value in properties.items():
            problem = _property_problem(definition, key, value)
            if problem is None:
                clean[key] = value
            elif strict:
                raise InvalidPropertyError(problem)
            else:
                self._count_error(InvalidPropertyError(problem), definition.name)
        return clean

    def _missing_for_metrics(self, definitions, event):
        """Why some metric of this event cannot count it, or None. Runs for every event: totals need nothing."""
        needed = self._ids_needed(definitions, event.name)
        if needed is not None:
            for attribute in needed:
                if getattr(event, attribute) is None:
                    break
            else:
                return None  # the usual event: no rule of it looks at properties, and it has every id they need
        needs = {}
        properties = event.properties
        for rule in definitions.rules_for(event.name):
            kind = rule.kind
            if kind == "total" or (rule.filter and not rule.matches(properties)):
                continue
            if kind == "unique":
                attribute = rule.id_attribute
                if getattr(event, attribute) is None if attribute else rule.unique not in properties:
                    needs.setdefault(rule.unique, rule)
            elif "value" not in properties:
                needs.setdefault("value", rule)
        if not needs:
            return None
        parts = []
        for needed, rule in needs.items():
            metrics = [m.key_path for m in definitions.metrics if rule in m.rules]
            how = (
                f"pass {needed}= or {needed}_id="
                if needed in IDENTIFIERS
                else f"pass additional_properties={{'{needed}': ...}}"
            )
            parts.append(f"{', '.join(metrics)} need(s) {needed}: {how}")
        return f"Event '{event.name}' is missing data its metrics count: " + "; ".join(parts)

    def _ids_needed(self, definitions, event_name):
        """The id attributes an event's rules need, when ids are all they look at (no filter, unique property or
        sum); else None. Worked out once per event and definitions, not for every event tracked."""
        cached_for, needed = self._needed_ids
        if cached_for is not definitions:
            needed = {}
            self._needed_ids = (definitions, needed)
        if event_name not in needed:
            rules = [rule for rule in definitions.rules_for(event_name) if rule.kind != "total"]
            simple = all(rule.kind == "unique" and rule.id_attribute and not rule.filter for rule in rules)
            needed[event_name] = tuple({rule.id_attribute: None for rule in rules}) if simple else None
        return needed[event_name]

    def _count_unreadable_opt_outs(self, withheld):
        """Events kept from Snowplow because nobody could say whether their users opted out: counted in Redis
        for `status` (in this process when Redis fails too)."""
        try:
            self.counters.redis.incrby(self.counters.keys.internal(WITHHELD_KEY), withheld)
        except REDIS_FAILURES:
            self.errors[WITHHELD_KEY] += withheld

    def _count_error(self, error, event_name):
        self.errors[error.kind] += 1
        log.warning("Internal event %r not tracked as asked: %s", event_name, error)


def _object_id(name, obj, given_id):
    """The id of `obj` (anything with `.id`) or the given id, checked to be a sane integer."""
    if obj is None and given_id is None:
        return None
    if obj is not None:
        object_id = getattr(obj, "id", None)
        if given_id is not None and given_id != object_id:
            raise InvalidIdentifierError(f"{name} and {name}_id disagree ({object_id!r} vs {given_id!r})")
        given_id = object_id
        if given_id is None:
            raise InvalidIdentifierError(f"{name} has no id: pass an object with an `id` attribute")
    if given_id is None:
        return None
    if not is_id(given_id):
        raise InvalidIdentifierError(f"{name}_id must be {ID_RANGE}, got {given_id!r}")
    return given_id


def gitlab_options(category, send_snowplow_event, feature_enabled_by_namespace_ids):
    """GitLab's track_event options, checked: a wrong type names the argument."""
    if category is None and send_snowplow_event is True and feature_enabled_by_namespace_ids is None:
        return DEFAULT_OPTIONS  # nearly every call: nothing to check
    if category is not None and (not isinstance(category, str) or not 0 < len(category) <= MAX_STRING_LENGTH):
        raise InvalidArgumentError(
            f"category must be a non-empty string of at most {MAX_STRING_LENGTH} characters, got {category!r:.80}"
        )
    if not isinstance(send_snowplow_event, bool):
        raise InvalidArgumentError(f"send_snowplow_event must be True or False, got {send_snowplow_event!r:.80}")
    namespace_ids = feature_enabled_by_namespace_ids
    if namespace_ids is not None:
        if not isinstance(namespace_ids, (list, tuple)) or not all(is_id(i) for i in namespace_ids):
            raise InvalidArgumentError(
                f"feature_enabled_by_namespace_ids must be a list of namespace ids, got {namespace_ids!r:.80}"
            )
        namespace_ids = tuple(namespace_ids)
    return {
        "category": category,
        "send_snowplow_event": send_snowplow_event,
        "feature_enabled_by_namespace_ids": namespace_ids,
    }


DEFAULT_OPTIONS = MappingProxyType(
    {"category": None, "send_snowplow_event": True, "feature_enabled_by_namespace_ids": None}
)


def _plan(namespace):
    plan = getattr(namespace, "plan", None)
    return plan if isinstance(plan, str) else None


def _property_problem(definition, key, value):
    if key in BASE_PROPERTIES:
        types = BASE_PROPERTIES[key]
        allowed = "a string" if types == (str,) else "a number"
    elif key in definition.custom_properties:
        types, allowed = CUSTOM_PROPERTY_TYPES, "a string or a number"
    else:
        declared = ", ".join(sorted(definition.custom_properties)) or "none"
        return (
            f"Unknown additional property '{key}' for event '{definition.name}': declare it under "
            f"additional_properties in {definition.path} (custom properties declared: {declared})"
        )
    if isinstance(value, bool) or not isinstance(value, types):
        return f"Additional property '{key}' of event '{definition.name}' must be {allowed}, got {value!r}"
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        return f"Additional property '{key}' of event '{definition.name}' is longer than {MAX_STRING_LENGTH} characters"
    if isinstance(value, float) and not math.isfinite(value):
        return f"Additional property '{key}' of event '{definition.name}' must be a finite number"
    if isinstance(value, (int, float)) and not -MAX_NUMBER <= value <= MAX_NUMBER:
        return (
            f"Additional property '{key}' of event '{definition.name}' must be between {-MAX_NUMBER} and {MAX_NUMBER}"
        )
    return None
