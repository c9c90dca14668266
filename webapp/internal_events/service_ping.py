"""The service ping: every reported metric's current value, nested by its key path, as GitLab lays it out."""

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from .counters import CounterStore, Number
from .delivery import REDIS_FAILURES
from .model import Definitions
from .windows import today

log = logging.getLogger(__name__)
UNREADABLE = -1  # GitLab's value for a metric that failed to compute
SERVICE_PING_OFF = (
    "the service ping is turned off on this instance "
    "(internal-events switch service_ping on, or INTERNAL_EVENTS_SERVICE_PING=1)"
)


class PingSource(Protocol):
    """What a service ping reads from a Tracker: its counters and definitions, after pending writes land."""

    counters: CounterStore

    @property
    def definitions(self) -> Definitions: ...

    def flush(self, timeout: float = ...) -> bool: ...


def nest(flat: Mapping[str, object]) -> dict[str, Any]:
    """{"a.b.c": 1} -> {"a": {"b": {"c": 1}}}, as GitLab's service ping lays out key paths."""
    tree: dict[str, Any] = {}  # a JSON object nested as deep as the key paths go
    for key_path, value in flat.items():
        *parents, leaf = key_path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def metric_values(tracker: PingSource, until: date | None = None) -> dict[str, Number]:
    """{key_path: value} for every reported metric (active and broken; removed ones are never loaded)."""
    until = until or today()
    tracker.flush()
    metrics = tracker.definitions.metrics
    values = tracker.counters.values([(metric, until) for metric in metrics])
    return {metric.key_path: value for metric, value in zip(metrics, values)}


def reported_values(tracker: PingSource, until: date | None = None) -> dict[str, Number]:
    """metric_values with GitLab's types (sums are floats), or -1 for every metric when Redis cannot be read."""
    metrics = tracker.definitions.metrics
    try:
        values = metric_values(tracker, until)
    except REDIS_FAILURES as error:
        log.warning("Service ping without counts, Redis unavailable: %s", error)
        return {metric.key_path: UNREADABLE for metric in metrics}
    return {
        metric.key_path: float(values[metric.key_path]) if metric.kind == "sum" else values[metric.key_path]
        for metric in metrics
    }


def service_ping(
    tracker: PingSource, instance_uuid: str, until: date | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """GitLab's payload: the metadata that applies here, then the metrics by key path."""
    payload = nest(reported_values(tracker, until))
    payload.update(
        recorded_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        uuid=instance_uuid,
        version=product_version(),
    )
    return payload


def product_version() -> str:
    try:
        return version("internal-events-flask")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
