"""What the metrics dashboard shows: the catalogue of events and metrics, their values, the overview, recent events.

Values come from the same counters the service ping reads (`CounterStore.values` and
`weekly_series`), so the dashboard and the ping always agree. The catalogue is read from
the definitions alone; only the rows on screen (or, to sort by value, the rows that
match) are read from Redis. No Flask here: the views only render what this returns.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from .internal_events.contexts import STANDARD_CONTEXT, same_schema
from .internal_events.model import IDENTIFIERS, TIME_FRAMES, Metric, Rule
from .internal_events.windows import FRAME_DAYS, chart_weeks

CHANGE_FRAMES = ("7d", "28d")  # frames compared with the same length of time just before
FILTERS = ("product_group", "status", "tier", "time_frame", "data_source", "unique")
SORTS = ("name", "value_7d", "value_28d", "value_all", "change_7d", "change_28d")
PAGE_SIZE = 50


@dataclass(frozen=True)
class EventUse:
    """An event as a metric counts it: optionally unique by a field and filtered by properties."""

    name: str
    unique: str | None  # as definitions write it: "user.id", "label"...
    filter: dict


@dataclass(frozen=True)
class MetricEntry:
    """One metric definition file: what the dictionary lists and the metric page describes."""

    key_path: str  # as written in the file; the service ping adds a suffix per time frame
    path: str
    description: str
    product_group: str
    status: str
    tiers: tuple
    data_source: str
    kind: str
    events: tuple  # EventUse
    metrics: dict  # time frame -> Metric

    @property
    def name(self):
        return self.key_path

    @property
    def time_frames(self):
        return tuple(self.metrics)

    @property
    def reported(self):
        return {frame: metric.key_path for frame, metric in self.metrics.items()}

    @property
    def event_names(self):
        return tuple(dict.fromkeys(use.name for use in self.events))

    @cached_property
    def facets(self):
        """The values this entry has for each filter."""
        return {
            "product_group": {self.product_group},
            "status": {self.status},
            "tier": set(self.tiers),
            "time_frame": set(self.time_frames),
            "data_source": {self.data_source},
            "unique": {use.unique or "none (total)" for use in self.events},
        }

    @cached_property
    def search_text(self):
        return _searchable(
            self.key_path, self.description, self.path, self.product_group, *self.event_names, *self.reported.values()
        )


@dataclass(frozen=True)
class EventEntry:
    name: str
    description: str
    path: str
    product_group: str
    tiers: tuple
    identifiers: tuple
    metrics: tuple  # key paths of the metric files counting it

    @property
    def totals(self):
        """The event's own totals, kept for every event whatever its metrics count."""
        return {frame: Metric(self.name, frame, (Rule(self.name),), self.path) for frame in TIME_FRAMES}

    @cached_property
    def facets(self):
        return {
            "product_group": {self.product_group},
            "tier": set(self.tiers),
            "time_frame": set(TIME_FRAMES),
            "status": set(),
            "data_source": {"internal_events"},
            "unique": set(),
        }

    @cached_property
    def search_text(self):
        return _searchable(self.name, self.description, self.path, self.product_group, *self.metrics)


def _searchable(*parts):
    return " ".join(parts).lower()


def matches(entry, query):
    """Every word of `query` appears in the entry's name, description, file, group or related names."""
    return all(word in entry.search_text for word in (query or "").lower().split())


_LAST_CATALOGUE = {}  # definitions never change once loaded: the catalogue of the newest is built once


def catalogue(definitions):
    """(metric entries, event entries), each sorted by name; no Redis."""
    if _LAST_CATALOGUE.get("definitions") is not definitions:
        _LAST_CATALOGUE.update(definitions=definitions, entries=_build_catalogue(definitions))
    return _LAST_CATALOGUE["entries"]


def _build_catalogue(definitions):
    by_file = {}
    for metric in definitions.metrics:
        by_file.setdefault(metric.path, []).append(metric)
    metrics = sorted((_metric_entry(path, group) for path, group in by_file.items()), key=lambda e: e.key_path)
    counted_by = {}
    for entry in metrics:
        for name in entry.event_names:
            counted_by.setdefault(name, []).append(entry.key_path)
    events = [
        EventEntry(
            name=name,
            description=event.description,
            path=event.path,
            product_group=str(event.raw.get("product_group") or "unknown"),
            tiers=tuple(event.raw.get("tiers") or ()),
            identifiers=tuple(i for i in IDENTIFIERS if i in event.identifiers),
            metrics=tuple(counted_by.get(name, ())),
        )
        for name, event in sorted(definitions.events.items())
    ]
    return metrics, events


def _metric_entry(path, metrics):
    first = metrics[0]
    raw = first.raw
    return MetricEntry(
        key_path=raw.get("key_path", first.key_path),
        path=path,
        description=first.description,
        product_group=str(raw.get("product_group") or "unknown"),
        status=first.status,
        tiers=tuple(raw.get("tiers") or ()),
        data_source=str(raw.get("data_source") or "internal_events"),
        kind=first.kind,
        events=tuple(EventUse(rule.event, _as_written(rule.unique), dict(rule.filter)) for rule in first.rules),
        metrics={metric.time_frame: metric for metric in metrics},
    )


def _as_written(unique):
    """A rule's unique field as definitions write it: "user" -> "user.id", "label" -> "label"."""
    return f"{unique}.id" if unique in IDENTIFIERS else unique


def facet_options(entries):
    """Every value each filter can take among `entries`, sorted, for the filter menus."""
    options = {name: set() for name in FILTERS}
    for entry in entries:
        for name, values in entry.facets.items():
            options[name] |= values
    return {name: sorted(values) for name, values in options.items()}


def select(entries, query="", filters=None):
    """The entries matching the search and every filter given (a filter maps a facet to one wanted value)."""
    wanted = {name: value for name, value in (filters or {}).items() if value}
    return [
        entry
        for entry in entries
        if matches(entry, query) and all(value in entry.facets.get(name, ()) for name, value in wanted.items())
    ]


# -- values --------------------------------------------------------------------------------------


def figures(counters, entries, day):
    """Each entry's value per time frame and its change against the period just before, in one round trip.

    Returns [{"values": {frame: n}, "change": {frame: n - previous}}] in the order of `entries`.
    """
    queries, shape = [], []
    for entry in entries:
        metrics = entry.metrics if isinstance(entry, MetricEntry) else entry.totals
        frames = tuple(metrics)
        queries += [(metrics[frame], day) for frame in frames]
        compared = tuple(frame for frame in CHANGE_FRAMES if frame in metrics)
        queries += [(metrics[frame], day - timedelta(days=FRAME_DAYS[frame])) for frame in compared]
        shape.append((frames, compared))
    values = iter(counters.values(queries)) if queries else iter(())
    result = []
    for frames, compared in shape:
        now = {frame: next(values) for frame in frames}
        result.append({"values": now, "change": {frame: now[frame] - next(values) for frame in compared}})
    return result


def ranked(counters, entries, chosen, day, sort, memory):
    """`chosen` (some of `entries`) in the order of `sort`, by values read at most `memory.seconds` ago.

    Sorting by value needs every matching entry's values: one read of all `entries`, remembered,
    serves every search, filter, page and poll until it expires (the rows shown are read afresh).
    """
    key = (day, id(entries))
    kept = memory.recall(key)
    if kept is None or kept[0] is not entries:
        kept = (entries, {id(entry): read for entry, read in zip(entries, figures(counters, entries, day))})
        memory.keep_only(lambda other: other[0] == day)
        memory.keep(key, kept)
    by_entry = kept[1]
    return [entry for entry, _ in sorted(((entry, by_entry[id(entry)]) for entry in chosen), key=sort_key(sort))]


def sort_key(sort):
    """A key for `sorted(zip(entries, figures))`: names ascending; values and changes largest first."""
    if sort not in SORTS or sort == "name":
        return lambda pair: (pair[0].name,)
    what, frame = sort.split("_", 1)
    field = "values" if what == "value" else "change"

    def key(pair):
        number = pair[1][field].get(frame)
        return (number is None, -(number or 0), pair[0].name)

    return key


def page_of(items, page, size=None):
    """(the items of 1-based `page`, clamped to the pages there are, that page, the number of pages)."""
    size = size or PAGE_SIZE
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return items[(page - 1) * size : page * size], page, pages


def weekly_series(counters, entry, day):
    """The entry's 12 rolling weeks ((last day, value), oldest first): a metric's own, or an event's totals."""
    metric = next(iter(entry.metrics.values())) if isinstance(entry, MetricEntry) else entry.totals["7d"]
    return counters.weekly_series([metric], day)[0]


# -- the overview ----------------------------------------------------------------------------------

PERIODS = {"7d": "Last 7 days", "28d": "Last 28 days", "12w": "Last 12 weeks"}
TOP_EVENTS = 10


@dataclass(frozen=True)
class Figure:
    label: str
    value: float
    previous: float | None

    @property
    def change(self):
        return None if self.previous is None else self.value - self.previous

    @property
    def change_percent(self):
        if not self.previous:
            return None
        return round(100 * (self.value - self.previous) / self.previous)


class Remembered:
    """Values kept for `seconds` in this process: what the overview's polls need not read again."""

    def __init__(self, seconds):
        self.seconds, self._values = seconds, {}

    def recall(self, key):
        """The value kept under `key`, or None when there is none or it is too old."""
        kept = self._values.get(key)
        return kept[1] if kept and time.monotonic() <= kept[0] else None

    def keep(self, key, value, stretch=1.0):
        """Keep `value` for `stretch` times the usual time (spreads out when many things expire)."""
        self._values[key] = (time.monotonic() + self.seconds * stretch, value)

    def keep_only(self, wanted):
        """Forget every key that fails `wanted` (days that left the window, definitions that changed)."""
        self._values = {key: value for key, value in self._values.items() if wanted(key)}


def events_tracked(counters, definitions, day, frame="7d"):
    """How many times any event was tracked in `frame` ending `day`: one read."""
    rules = tuple(Rule(name) for name in sorted(definitions.events))
    return counters.value(Metric("all events", frame, rules, ""), day) if rules else 0


@dataclass(frozen=True)
class OverviewMemory:
    """What one app's overview remembers between polls.

    A completed day moves only when late events are replayed (the spool), so its counts are kept until
    a replay lands (see `overview`) or for 30 to 60 minutes, each day its own time so that no poll reads
    them all again; today's are read at every poll. Active users are unions over thousands of keys: one
    minute.
    """

    days: Remembered = field(default_factory=lambda: Remembered(1800))
    users: Remembered = field(default_factory=lambda: Remembered(60))


def overview(counters, definitions, day, period, memory, replayed=None):
    """Top-line figures, the main chart's points and the top events of `period` (one of PERIODS).

    Built from each event's own count per day (events with none left out): today's read at every call,
    earlier days remembered while `replayed` (the spool's count of replayed events) stays the same.
    """
    names = tuple(sorted(definitions.events))
    if not names:
        return {"figures": [], "points": [], "top": []}
    span = 84 if period == "12w" else 56  # the chart's 12 weeks, or 28 days and the 28 before
    days = [day - timedelta(days=back) for back in range(span)]
    daily = _daily_counts(counters, (names, replayed), days, memory.days)
    per_day = [sum(daily[d].values()) for d in days]  # newest first

    def total(first_back, count):
        return sum(per_day[first_back : first_back + count])

    def event_totals(first_back, count):
        totals = Counter()
        for d in days[first_back : first_back + count]:
            totals.update(daily[d])
        return totals

    figures_ = [
        Figure("Events today", total(0, 1), total(1, 1)),
        Figure("Events, 7 days", total(0, 7), total(7, 7)),
        Figure("Events, 28 days", total(0, 28), total(28, 28)),
        *_active_users(counters, definitions, day, memory.users),
    ]
    if period == "12w":
        points = [(last, total((day - last).days, 7)) for _, last in chart_weeks(day)]
        top = [Figure(name, value, None) for name, value in event_totals(0, 84).items()]
    else:
        length = FRAME_DAYS[period]
        points = [(days[back], per_day[back]) for back in reversed(range(length))]
        before = event_totals(length, length)
        top = [Figure(name, value, before.get(name, 0)) for name, value in event_totals(0, length).items()]
    ranked = sorted((figure for figure in top if figure.value), key=lambda figure: (-figure.value, figure.label))
    return {"figures": figures_, "points": points, "top": ranked[:TOP_EVENTS]}


def _daily_counts(counters, kept_under, days, memory):
    """{day: {event: count, events without any left out}} for `days` (newest first): the first read now,
    earlier ones when remembered under `kept_under` (the events' names, and what changes when late events
    land); every day read is one call over every event's totals."""
    memory.keep_only(lambda key: key[1] == kept_under and key[0] in days)
    known = {d: memory.recall((d, kept_under)) for d in days[1:]}
    missing = [days[0]] + [d for d, counts in known.items() if counts is None]
    read = counters.day_totals([Rule(name) for name in kept_under[0]], missing)
    fresh = {d: {rule.event: amount for rule, amount in read[d].items()} for d in missing}
    for index, d in enumerate(missing[1:]):
        memory.keep((d, kept_under), fresh[d], stretch=1 + index / len(days))
    return {d: fresh[d] if d in fresh else known[d] for d in days}


def _active_users(counters, definitions, day, memory):
    """Distinct users over every event some metric counts unique by user.id (the only place users are kept)."""
    rules = definitions.active_user_rules()
    if not rules:
        return []
    key = (day, rules)
    figures_ = memory.recall(key)
    if figures_ is None:
        union = {frame: Metric("active users", frame, rules, "") for frame in CHANGE_FRAMES}
        values = iter(
            counters.values(
                [
                    (union[frame], until)
                    for frame in CHANGE_FRAMES
                    for until in (day, day - timedelta(days=FRAME_DAYS[frame]))
                ]
            )
        )
        figures_ = [
            Figure(f"Active users, {FRAME_DAYS[frame]} days", next(values), next(values)) for frame in CHANGE_FRAMES
        ]
        memory.keep_only(lambda kept: kept == key)
        memory.keep(key, figures_)
    return figures_


# -- delivery ------------------------------------------------------------------------------------


def delivery(report):
    """What the overview shows of an `internal-events status` report: its problems, and the figures behind them.

    Returns {"problems": [sentence], "facts": [(label, value)]}; every figure is shared by all processes.
    """
    spool, snowplow = report["spool"], report.get("snowplow")
    facts = [
        ("Redis", "reachable" if report["redis"]["reachable"] else "unreachable"),
        ("Waiting in the spool for Redis", spool.get("pending", 0)),
        ("Replayed from the spool", spool.get("replayed", 0)),
        ("Lost for good", sum((spool.get("lost") or {}).values())),
        ("Dropped, spool full", spool.get("dropped", 0)),
        ("Quarantined", spool.get("quarantined", 0)),
    ]
    if snowplow is None:
        facts.append(("Snowplow", "not configured"))
    else:
        oldest = snowplow.get("oldest_queued_at")
        waiting = snowplow.get("queued")
        if oldest:
            waiting = f"{waiting} (oldest {datetime.fromtimestamp(oldest, UTC).strftime('%Y-%m-%d %H:%M:%S')})"
        facts += [
            ("Waiting for Snowplow", "unknown" if waiting is None else waiting),
            ("Sent to Snowplow", "unknown" if snowplow.get("delivered") is None else snowplow["delivered"]),
            (
                "Not sent to Snowplow",
                sum(snowplow.get(name) or 0 for name in ("dropped", "rejected", "unkept")),
            ),
        ]
    return {"problems": report["problems"], "facts": facts}


# -- recent events ---------------------------------------------------------------------------------


def recent_event(record, user_names=None):
    """A collector record as the recent-events table shows it: when, what, and for whom.

    Snowplow carries only a hash of the user id; `user_names` maps known hashes to names.
    """
    standard = next(
        (c.get("data") or {} for c in record.get("contexts", []) if same_schema(c.get("schema"), STANDARD_CONTEXT)), {}
    )
    user_hash = standard.get("user_id")
    return {
        "time": _time(record),
        "event": record.get("action"),
        "user": (user_names or {}).get(user_hash) or (user_hash[:12] if user_hash else None),
        "namespace_id": standard.get("namespace_id"),
        "project_id": standard.get("project_id"),
        "source": standard.get("source"),
        "label": record.get("label"),
        "property": record.get("property"),
        "value": record.get("value"),
    }


def _time(record):
    created = record.get("created_at_ms")
    if isinstance(created, int):
        moment = datetime.fromtimestamp(created / 1000, UTC)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return record.get("received_at")
