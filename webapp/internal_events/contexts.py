"""The Snowplow contexts every internal event carries, and their schemas.

Built here without I/O so the sender and the collector share one definition,
and tests can validate what was emitted against the same schema files.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from .model import TrackedEvent

SCHEMA_DIR = Path(__file__).parent / "schemas" / "contexts"
CATEGORY = "InternalEventTracking"
CONTEXT_NAMES = ("standard_context", "service_ping_context")


def _schema_file(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return schema


def context_schemas(vendor: str | None = None) -> list[dict[str, Any]]:
    """Every context schema this project defines, under `vendor` (INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR) if given."""
    schemas = [_schema_file(name) for name in CONTEXT_NAMES]
    if vendor:
        for schema in schemas:
            schema["self"]["vendor"] = vendor
    return schemas


def iglu_uri(schema: dict[str, Any]) -> str:
    s = schema["self"]
    return f"iglu:{s['vendor']}/{s['name']}/{s['format']}/{s['version']}"


def same_schema(uri: object, other: str) -> bool:
    """Whether two iglu URIs name the same schema of ours, whatever vendor each was sent under."""
    return isinstance(uri, str) and uri.partition("/")[2] == other.partition("/")[2]


@cache
def known_schemas() -> dict[str, Any]:
    """schema path (name/format/version) -> validator, for every context schema this project defines."""
    from jsonschema import Draft7Validator, FormatChecker  # ~0.1 s to import: only where contexts are checked

    return {
        iglu_uri(s).partition("/")[2]: Draft7Validator(s, format_checker=FormatChecker()) for s in context_schemas()
    }


STANDARD_CONTEXT, SERVICE_PING_CONTEXT = (iglu_uri(s) for s in context_schemas())


@lru_cache(maxsize=8192)
def pseudonym(key: str, user_id: int | None) -> str | None:
    """The user as Snowplow sees them: HMAC-SHA256 of the id under the instance's secret key.

    A bare hash of a small sequential id is reversed by hashing every id up to a few
    million; without the key nobody holding the events can rebuild the table.
    Cached (3.6 µs each; active users recur): a few thousand hex strings.
    """
    if user_id is None:
        return None
    return hmac.new(key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def event_facts(event: TrackedEvent, custom_properties: dict[str, Any] | None, pseudonym_key: str) -> dict[str, Any]:
    """What the standard context says of one event, the user pseudonymised: the part an outbox record keeps."""
    facts: dict[str, Any] = {
        "source": event.source,
        "user_id": pseudonym(pseudonym_key, event.user_id),
        "namespace_id": event.namespace_id,
        "project_id": event.project_id,
        "plan": event.plan,
    }
    if custom_properties:
        facts["extra"] = custom_properties
    if event.feature_enabled_by_namespace_ids is not None:
        facts["feature_enabled_by_namespace_ids"] = list(event.feature_enabled_by_namespace_ids)
    return facts


def standard_context(facts: dict[str, Any], environment: str, generated_at_ms: int) -> dict[str, Any]:
    """The standard context of an event's `facts`, generated when it was accepted (ms since the epoch)."""
    generated_at = datetime.fromtimestamp(generated_at_ms / 1000, UTC).isoformat(timespec="milliseconds")
    return {"environment": environment, **facts, "context_generated_at": generated_at}


def service_ping_context(event_name: str) -> dict[str, str]:
    return {"data_source": "redis_hll", "event_name": event_name}


def context_errors(schema_uri: object, data: object) -> list[str]:
    """Why `data` does not fit the named schema ([] when it does, or when the schema is not ours)."""
    checker = known_schemas().get(schema_uri.partition("/")[2]) if isinstance(schema_uri, str) else None
    if checker is None:
        return []
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in checker.iter_errors(data)]
