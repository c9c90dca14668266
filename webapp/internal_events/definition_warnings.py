"""This project's conventions beyond GitLab's schemas: lint warnings, never reasons to refuse a file.

Also warns where GitLab's own schema is stricter than the loader (fields GitLab
requires), so definitions written here stay valid in GitLab.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .model import IDENTIFIERS, EventDefinition
from .problems import Problem

Documents = Iterable[tuple[str, Mapping[str, Any]]]  # (the file as shown, its parsed YAML)

MAX_ACTION_LENGTH = 120
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_PATH = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
# Fields GitLab's schemas require that the loader does without.
GITLAB_REQUIRED = {
    "event": ("product_group", "introduced_by_url", "milestone", "tiers"),
    "metric": ("value_type", "product_group", "data_category", "milestone", "introduced_by_url", "tiers"),
}
GITLAB_STATUS_REQUIRED = {"broken": ("repair_issue_url",), "removed": ("removed_by_url", "milestone_removed")}


def of_events(documents: Documents) -> list[Problem]:
    warnings: list[Problem] = []
    for shown, doc in documents:
        warnings += _gitlab_required(shown, doc, "event")
        if len(doc["action"]) > MAX_ACTION_LENGTH:
            warnings.append(Problem(shown, "action", f"is longer than {MAX_ACTION_LENGTH} characters"))
        if not doc["description"].strip():
            warnings.append(Problem(shown, "description", "is empty: say what happened"))
        for name, declared in (doc.get("additional_properties") or {}).items():
            field = f"additional_properties.{name}"
            if name in IDENTIFIERS:
                warnings.append(Problem(shown, field, "is an identifier: GitLab ignores it as a property"))
            elif not SNAKE_CASE.match(str(name)):
                warnings.append(Problem(shown, field, "is not snake_case (lowercase words joined by _)"))
            if not isinstance(declared, dict) or not isinstance(declared.get("description"), str):
                warnings.append(Problem(shown, field, "has no description"))
    return warnings


def of_metrics(documents: Documents) -> list[Problem]:
    warnings: list[Problem] = []
    for shown, doc in documents:
        warnings += _gitlab_required(shown, doc, "metric")
        if not KEY_PATH.match(doc["key_path"]):
            warnings.append(Problem(shown, "key_path", "is not lowercase words joined by _ and separated by dots"))
    return warnings


def of_rule(
    shown: str, field: str, entry: Mapping[str, Any], event: EventDefinition, unique: str | None
) -> list[Problem]:
    """Warnings about one `events:` entry of a metric: what it counts that its event does not declare."""
    warnings: list[Problem] = []
    if unique in IDENTIFIERS and unique not in event.identifiers:
        warnings.append(
            Problem(
                shown,
                f"{field}.unique",
                f"'{entry['unique']}' is not among the identifiers of event '{event.name}' ({event.path})",
            )
        )
    elif unique and unique not in IDENTIFIERS and unique not in event.properties:
        warnings.append(
            Problem(
                shown,
                f"{field}.unique",
                f"'{unique}' is not an additional property of event '{event.name}' ({event.path})",
            )
        )
    for key in entry.get("filter") or {}:
        if key not in event.properties:
            declared = ", ".join(sorted(event.properties)) or "none"
            warnings.append(
                Problem(
                    shown,
                    f"{field}.filter.{key}",
                    f"'{key}' is not an additional property of event '{event.name}' (declared: {declared})",
                )
            )
    return warnings


def _gitlab_required(shown: str, doc: Mapping[str, Any], kind: str) -> list[Problem]:
    needed = GITLAB_REQUIRED[kind] + GITLAB_STATUS_REQUIRED.get(str(doc.get("status")), ())
    return [Problem(shown, name, "is missing; GitLab requires it") for name in needed if name not in doc]
