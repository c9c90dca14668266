"""What the metrics dashboard shows: every event and metric with its values, and the latest Snowplow events.

Values come from the same counters the service ping reads, so the dashboard and
the ping always agree. No Flask here: the views only render what this returns.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from .internal_events.contexts import STANDARD_CONTEXT, same_schema
from .internal_events.model import TIME_FRAMES, Metric, Rule


@dataclass(frozen=True)
class MetricRow:
    """One metric definition file: its values per time frame and its weekly series for the chart."""

    key_path: str  # as written in the file; the service ping adds a suffix per time frame
    path: str
    description: str
    kind: str
    status: str
    events: tuple
    values: dict  # time frame -> current value, for the frames it reports
    reported: dict  # time frame -> key path in the service ping
    weeks: tuple  # ((last day, value), ...) oldest first

    @property
    def search_text(self):
        return _searchable(self.key_path, self.description, self.path, *self.events, *self.reported.values())


@dataclass(frozen=True)
class EventRow:
    name: str
    description: str
    path: str
    values: dict  # time frame -> how many times it was tracked
    metrics: tuple  # key paths of the metrics counting it

    @property
    def search_text(self):
        return _searchable(self.name, self.description, self.path, *self.metrics)


def _searchable(*parts):
    return " ".join(parts).lower()


def matches(row, query):
    """Every word of `query` appears in the row's name, description, file or related names."""
    return all(word in row.search_text for word in (query or "").lower().split())


def metric_rows(internal_events, day):
    """A row per metric file; every value and weekly series is read in two round trips."""
    by_file = {}
    for metric in internal_events.definitions.metrics:
        by_file.setdefault(metric.path, []).append(metric)
    counters = internal_events.counters
    values = iter(counters.values([(m, day) for metrics in by_file.values() for m in metrics]))
    # Every frame of a file reads the same rules: one series serves them all.
    weeks = iter(counters.weekly_series([metrics[0] for metrics in by_file.values()], day))
    rows = []
    for path, metrics in by_file.items():
        first = metrics[0]
        rows.append(
            MetricRow(
                key_path=first.raw["key_path"],
                path=path,
                description=first.description,
                kind=first.kind,
                status=first.status,
                events=first.events,
                values={m.time_frame: next(values) for m in metrics},
                reported={m.time_frame: m.key_path for m in metrics},
                weeks=tuple(next(weeks)),
            )
        )
    return sorted(rows, key=lambda row: row.key_path)


def event_rows(internal_events, day, metrics):
    """Each event's own totals (kept for every event, with or without metrics) and the metrics counting it."""
    events = sorted(internal_events.definitions.events.items())
    totals = [Metric(name, frame, (Rule(name),), event.path) for name, event in events for frame in TIME_FRAMES]
    values = iter(internal_events.counters.values([(metric, day) for metric in totals]))
    return [
        EventRow(
            name=name,
            description=event.description,
            path=event.path,
            values={frame: next(values) for frame in TIME_FRAMES},
            metrics=tuple(row.key_path for row in metrics if name in row.events),
        )
        for name, event in events
    ]


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
        moment = datetime.fromtimestamp(created / 1000, timezone.utc)
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return record.get("received_at")
