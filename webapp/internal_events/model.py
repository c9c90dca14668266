"""The vocabulary shared by loading, counting and reporting: events, metrics and counting rules.

Pure data with no I/O, so every other module can be tested on its own.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

TIME_FRAMES = ("7d", "28d", "all")
# GitLab's suffixes, given to every key path of a metric whose time_frame is a list (even of one).
TIME_FRAME_SUFFIX = {"7d": "_weekly", "28d": "_monthly", "all": ""}
# GitLab's `time_frame: none` is never time-boxed: counted like `all`.
UNBOXED_TIME_FRAME = "none"
IDENTIFIERS = ("user", "namespace", "project")
BASE_PROPERTIES = {"label": (str,), "property": (str,), "value": (int, float)}
CUSTOM_PROPERTY_TYPES = (str, int, float)
SUM_OPERATOR = "sum(value)"
TOTAL_OPERATOR = "total"


def unique_field(unique: str) -> str:
    """The event field a metric's `unique:` reads, as GitLab splits it: "user.id" -> "user", "label" -> "label"."""
    return unique.split(".")[0]


@dataclass(frozen=True)
class Rule:
    """One thing Redis keeps for an event: a unique set, a total or a sum, optionally filtered.

    Rules are shared: two metrics that count the same thing read the same keys.
    """

    event: str
    unique: str | None = None  # an identifier or a property, e.g. "user" or "label" (see unique_field)
    filter: tuple[tuple[str, Any], ...] = ()  # sorted (property, value) pairs that must all match exactly
    operator: str | None = None

    @cached_property  # asked for every rule of every event written and of every metric read
    def kind(self) -> str:
        if self.unique:
            return "unique"
        return "sum" if self.operator == SUM_OPERATOR else "total"

    @cached_property
    def id_attribute(self) -> str | None:
        """The TrackedEvent attribute a unique rule over an identifier reads (`user_id`), else None."""
        return f"{self.unique}_id" if self.unique in IDENTIFIERS else None

    @cached_property
    def _hash(self) -> int:
        return hash((self.event, self.unique, self.filter, self.operator))

    def __hash__(self) -> int:  # rules key the write path's lookups: hashing four fields each time costs more
        return self._hash

    def matches(self, properties: Mapping[str, Any]) -> bool:
        return all(key in properties and _same_value(properties[key], value) for key, value in self.filter)


def _same_value(actual: object, expected: object) -> bool:
    # 1 and 1.0 are the same filter value, but True is not 1.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected


@dataclass(frozen=True)
class EventDefinition:
    name: str
    description: str
    path: str
    identifiers: frozenset[str] = frozenset()
    properties: frozenset[str] = frozenset()  # declared additional properties, base ones included
    # `extra_properties: {server_side_only: true}`: the usage-data API refuses it from browsers.
    server_side_only: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    internal: bool = True  # `internal_events: true`; legacy Snowplow-only files may share an action
    category: str | None = None  # the Snowplow category when a call gives none

    @property
    def custom_properties(self) -> frozenset[str]:
        return self.properties - BASE_PROPERTIES.keys()


@dataclass(frozen=True)
class Metric:
    """One reported number: a key path, one time frame and the rules it reads."""

    key_path: str
    time_frame: str  # one of TIME_FRAMES
    rules: tuple[Rule, ...]
    path: str
    status: str = "active"  # or "broken": still reported, as GitLab does
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def kind(self) -> str:
        return self.rules[0].kind

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.event for rule in self.rules))


@dataclass(frozen=True)
class Definitions:
    events: dict[str, EventDefinition]  # by name
    metrics: tuple[Metric, ...]  # one per time frame
    ignored_metrics: int = 0  # metrics of other data sources (database, prometheus, ...)
    # Indexes made once from the above (see __post_init__).
    _rules_by_event: dict[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)
    _unique_sets_by_rule: dict[Rule, tuple[tuple[Rule, ...], ...]] = field(init=False, repr=False, compare=False)

    def rules_for(self, event_name: str) -> tuple[Rule, ...]:
        """Every rule an event feeds: its own totals (kept even with no metric) plus its metrics'."""
        return self._rules_by_event.get(event_name, ())

    def __post_init__(self) -> None:
        by_event: dict[str, dict[Rule, None]] = {name: {Rule(name): None} for name in self.events}
        for metric in self.metrics:
            for rule in metric.rules:
                by_event.setdefault(rule.event, {})[rule] = None
        object.__setattr__(self, "_rules_by_event", {name: tuple(rules) for name, rules in by_event.items()})
        sets_by_rule: dict[Rule, list[tuple[Rule, ...]]] = {}
        for rules in self.unique_rule_sets_in_use():
            for rule in rules:
                sets_by_rule.setdefault(rule, []).append(rules)
        object.__setattr__(self, "_unique_sets_by_rule", {rule: tuple(sets) for rule, sets in sets_by_rule.items()})

    def unique_rule_sets_in_use(self) -> tuple[tuple[Rule, ...], ...]:
        """The distinct rule sets of unique metrics, and the dashboard's active users: each has its own kept
        frame counts (see counters.py)."""
        active = self.active_user_rules()
        sets = [metric.rules for metric in self.metrics if metric.kind == "unique"] + ([active] if active else [])
        return tuple(dict.fromkeys(sets))

    def active_user_rules(self) -> tuple[Rule, ...]:
        """Every unfiltered rule counting unique users: their union is the dashboard's active users."""
        return tuple(
            dict.fromkeys(
                rule for metric in self.metrics for rule in metric.rules if rule.unique == "user" and not rule.filter
            )
        )

    def unique_rule_sets(self, rule: Rule) -> tuple[tuple[Rule, ...], ...]:
        """The rule sets of the unique metrics that read `rule`."""
        return self._unique_sets_by_rule.get(rule, ())

    def metric(self, key_path: str) -> Metric | None:
        return next((m for m in self.metrics if m.key_path == key_path), None)


@dataclass(frozen=True)
class TrackedEvent:
    """One occurrence of an event, validated and with its ids resolved: what counters and Snowplow get."""

    name: str
    user_id: int | None = None
    namespace_id: int | None = None
    project_id: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    source: str = "python"
    plan: str | None = None
    category: str | None = None  # Snowplow's category; None: the default
    send_snowplow: bool = True  # GitLab's send_snowplow_event=False counts without sending
    feature_enabled_by_namespace_ids: tuple[int, ...] | None = None
    # False when the request it was tracked in carried an honoured privacy signal (GPC, DNT):
    # counted in the aggregate metrics only, never sent to Snowplow.
    event_level: bool = True

    def identifier(self, name: str) -> int | None:
        value: int | None = getattr(self, f"{name}_id")
        return value
