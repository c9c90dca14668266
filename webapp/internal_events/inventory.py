"""The data inventory: what is collected, read from the definitions so it cannot drift from them.

Pure: `inventory(definitions)` returns JSON-ready data for the help page and
`internal-events inventory`.
"""

from typing import Any

from .model import BASE_PROPERTIES, Definitions, EventDefinition, Metric

# What each identifier becomes in the standard context of a Snowplow event.
SNOWPLOW_FORMS = {
    "user": ("user_id", "HMAC-SHA256 pseudonym under the instance's secret key; the id itself never leaves"),
    "namespace": ("namespace_id", "the namespace's id, as is"),
    "project": ("project_id", "the project's id, as is"),
}
ALWAYS_SENT = (
    ("environment", "development, test or production"),
    ("source", "python (the app's own code) or browser (the usage-data API)"),
    ("plan", "the namespace's plan, when known"),
    ("context_generated_at", "when the event was sent"),
)
UNIQUE_MEANING = {
    "user": "a HyperLogLog of user ids: an estimate of how many, no list of who",
    "namespace": "a HyperLogLog of namespace ids: an estimate of how many",
    "project": "a HyperLogLog of project ids: an estimate of how many",
}


def inventory(definitions: Definitions) -> dict[str, list[dict[str, Any]]]:
    return {
        "snowplow_context": [{"field": field, "form": form} for field, form in ALWAYS_SENT],
        "events": [_event(definitions.events[name], definitions) for name in sorted(definitions.events)],
        "metrics": [_metric(metric) for metric in definitions.metrics],
    }


def _event(event: EventDefinition, definitions: Definitions) -> dict[str, Any]:
    raw_properties = event.raw.get("additional_properties") or {}
    return {
        "name": event.name,
        "description": event.description,
        "properties": [
            {
                "name": name,
                "sent_as": "the event's " + name if name in BASE_PROPERTIES else "standard context extra." + name,
                "description": (raw_properties.get(name) or {}).get("description", ""),
            }
            for name in sorted(event.properties)
        ],
        "identifiers_to_snowplow": [
            {"identifier": name, "field": SNOWPLOW_FORMS[name][0], "form": SNOWPLOW_FORMS[name][1]}
            for name in ("user", "namespace", "project")
            if name in event.identifiers
        ],
        "metrics": [metric.key_path for metric in definitions.metrics if event.name in metric.events],
    }


def _metric(metric: Metric) -> dict[str, Any]:
    rule = metric.rules[0]
    if rule.kind == "unique":
        kept = UNIQUE_MEANING.get(rule.unique or "", f"a HyperLogLog of {rule.unique} values: an estimate of how many")
    elif rule.kind == "sum":
        kept = "a running sum"
    else:
        kept = "a counter"
    return {
        "key_path": metric.key_path,
        "time_frame": metric.time_frame,
        "events": list(metric.events),
        "aggregate_only": True,
        "kept_as": kept,
        "description": metric.description,
    }
