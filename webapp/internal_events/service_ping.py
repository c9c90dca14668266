"""The service ping: every reported metric's current value, nested by its key path."""

from .windows import today

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
    """{key_path: value} for every active metric, in definition order."""
    until = until or today()
    internal_events.flush()
    active = [metric for metric in internal_events.definitions.metrics if metric.status == "active"]
    values = internal_events.counters.values([(metric, until) for metric in active])
    return {metric.key_path: value for metric, value in zip(active, values)}


def service_ping(internal_events, until=None):
    return nest(metric_values(internal_events, until))
