"""The service ping: every reported metric's current value, nested by its key path, as GitLab lays it out."""

import logging
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from .delivery import REDIS_FAILURES
from .windows import today

log = logging.getLogger(__name__)
UNREADABLE = -1  # GitLab's value for a metric that failed to compute
SERVICE_PING_OFF = ("the service ping is turned off on this instance "
                    "(internal-events switch service_ping on, or INTERNAL_EVENTS_SERVICE_PING=1)")


def nest(flat):
    """{"a.b.c": 1} -> {"a": {"b": {"c": 1}}}, as GitLab's service ping lays out key paths."""
    tree = {}
    for key_path, value in flat.items():
        *parents, leaf = key_path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def metric_values(internal_events, until=None):
    """{key_path: value} for every reported metric (active and broken; removed ones are never loaded)."""
    until = until or today()
    internal_events.flush()
    metrics = internal_events.definitions.metrics
    values = internal_events.counters.values([(metric, until) for metric in metrics])
    return {metric.key_path: value for metric, value in zip(metrics, values)}


def reported_values(internal_events, until=None):
    """metric_values with GitLab's types (sums are floats), or -1 for every metric when Redis cannot be read."""
    metrics = internal_events.definitions.metrics
    try:
        values = metric_values(internal_events, until)
    except REDIS_FAILURES as error:
        log.warning("Service ping without counts, Redis unavailable: %s", error)
        return {metric.key_path: UNREADABLE for metric in metrics}
    return {metric.key_path: float(values[metric.key_path]) if metric.kind == "sum" else values[metric.key_path]
            for metric in metrics}


def service_ping(internal_events, instance_uuid, until=None, now=None):
    """GitLab's payload: the metadata that applies here, then the metrics by key path."""
    payload = nest(reported_values(internal_events, until))
    payload.update(
        recorded_at=(now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        uuid=instance_uuid,
        version=product_version(),
    )
    return payload


def product_version():
    try:
        return version("internal-events-flask")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
