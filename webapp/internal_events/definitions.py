"""Loading and validating event and metric definitions from YAML.

Every file is checked against the JSON Schemas in `schemas/`, then across files
(a metric's events exist, uniqueness fits the event, ...). All problems are
collected so a developer fixes them in one pass instead of one per restart.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .model import (
    IDENTIFIERS,
    SUM_OPERATOR,
    TIME_FRAME_SUFFIX,
    UNIQUE_FIELDS,
    Definitions,
    EventDefinition,
    Metric,
    Rule,
)

SCHEMA_DIR = Path(__file__).parent / "schemas"


@dataclass(frozen=True)
class Problem:
    path: str
    field: str
    message: str

    def __str__(self):
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{where}: {self.message}"


class DefinitionsError(Exception):
    """The definitions folder has problems; `problems` lists every one of them."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the internal events definitions:\n{lines}")


@cache
def validator(name):
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return Draft202012Validator(schema)


def yaml_files(folder):
    """The YAML files below `folder`, in a stable order."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def definition_files(folder):
    """Every file a definitions folder is made of: what a reload has to watch."""
    return yaml_files(Path(folder) / "events") + yaml_files(Path(folder) / "metrics")


def load_definitions(folder):
    """Read `events/` and `metrics/` (recursively) below `folder`; raise DefinitionsError on any problem."""
    folder = Path(folder)
    problems = []
    if not (folder / "events").is_dir():
        raise DefinitionsError([Problem(str(folder), "", "has no events/ folder")])

    def read_all(kind):
        documents = []
        for path in yaml_files(folder / kind):
            shown = _shown_path(path, folder)
            document = _read_yaml(path, shown, problems)
            if document is not None and _schema_ok(document, kind[:-1], shown, problems):
                documents.append((shown, document))
        return documents

    events = _build_events(read_all("events"), problems)
    metrics, ignored = _build_metrics(read_all("metrics"), events, problems)
    if problems:
        raise DefinitionsError(problems)
    return Definitions(events=events, metrics=tuple(metrics), ignored_metrics=ignored)


def _shown_path(path, folder):
    # Messages name files the way the developer sees them: relative to the definitions' parent.
    return str(path.relative_to(folder.parent)) if folder.parent != path else str(path)


def _read_yaml(path, shown, problems):
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problems.append(Problem(shown, where, f"is not valid YAML ({getattr(error, 'problem', error)})"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(shown, "", f"cannot be read ({error})"))
        return None
    except RecursionError:  # PyYAML recurses once per level of nesting
        problems.append(Problem(shown, "", "is nested too deeply to be a definition"))
        return None
    if not isinstance(document, dict):
        problems.append(Problem(shown, "", "must be a YAML mapping of fields"))
        return None
    return document


def _schema_ok(document, schema_name, shown, problems):
    errors = sorted(validator(schema_name).iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        if error.context:  # oneOf/anyOf: the closest branch says what was wrong
            error = best_match(error.context)
        field = ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in error.absolute_path)
        problems.append(Problem(shown, field.replace(".[", "["), error.message))
    return not errors


def _build_events(documents, problems):
    events = {}
    for shown, doc in documents:
        name = doc["action"]
        if name in events:
            problems.append(
                Problem(shown, "action", f"event '{name}' is already defined in {events[name].path}")
            )
            continue
        identifiers = frozenset(doc.get("identifiers") or ()) & set(IDENTIFIERS)
        events[name] = EventDefinition(
            name=name,
            description=doc["description"],
            path=shown,
            identifiers=identifiers,
            properties=frozenset(doc.get("additional_properties") or ()),
            server_side_only=(doc.get("extra_properties") or {}).get("server_side_only") is True,
            raw=doc,
        )
    return events


def _build_metrics(documents, events, problems):
    metrics, key_paths, ignored = [], {}, 0
    for shown, doc in documents:
        if doc["data_source"] != "internal_events":
            ignored += 1
            continue
        rules = _metric_rules(doc, events, shown, problems)
        frames = doc["time_frame"] if isinstance(doc["time_frame"], list) else [doc["time_frame"]]
        if not _frames_ok(frames, rules, shown, problems):
            continue
        for frame in frames:
            key_path = doc["key_path"] + (TIME_FRAME_SUFFIX[frame] if len(frames) > 1 else "")
            if key_path in key_paths:
                problems.append(
                    Problem(shown, "key_path", f"'{key_path}' is already defined in {key_paths[key_path]}")
                )
                continue
            key_paths[key_path] = shown
            if rules and doc["status"] != "removed":
                metrics.append(
                    Metric(
                        key_path=key_path,
                        time_frame=frame,
                        rules=tuple(rules),
                        path=shown,
                        status=doc["status"],
                        description=doc.get("description") or "",
                        raw=doc,
                    )
                )
    return metrics, ignored


def _frames_ok(frames, rules, shown, problems):
    if "none" in frames:
        problems.append(
            Problem(shown, "time_frame", "'none' is not allowed for internal_events metrics; use 7d, 28d or all")
        )
        return False
    if rules and rules[0].kind == "unique" and "all" in frames:
        problems.append(
            Problem(
                shown,
                "time_frame",
                "'all' is only allowed for metrics without `unique`; unique metrics use 7d and/or 28d",
            )
        )
        return False
    return True


def _metric_rules(doc, events, shown, problems):
    """The counting rules of one metric, or [] after recording why it has none."""
    rules, before = [], len(problems)
    for index, entry in enumerate(doc["events"]):
        field = f"events[{index}]"
        event = events.get(entry["name"])
        if event is None:
            problems.append(
                Problem(shown, f"{field}.name", f"event '{entry['name']}' is not defined in events/")
            )
            continue
        unique = entry.get("unique")
        if unique:
            needed = UNIQUE_FIELDS[unique]
            declared = event.identifiers if needed in IDENTIFIERS else event.properties
            if needed not in declared:
                where = "identifiers" if needed in IDENTIFIERS else "additional_properties"
                problems.append(
                    Problem(
                        shown,
                        f"{field}.unique",
                        f"'{unique}' needs '{needed}' in the {where} of event '{event.name}' ({event.path})",
                    )
                )
                continue
        filters = entry.get("filter") or {}
        for key in filters:
            if key not in event.properties:
                problems.append(
                    Problem(
                        shown,
                        f"{field}.filter.{key}",
                        f"'{key}' is not an additional property of event '{event.name}'"
                        f" (declared: {', '.join(sorted(event.properties)) or 'none'})",
                    )
                )
        if entry.get("operator") and unique:
            problems.append(Problem(shown, f"{field}.operator", "cannot be combined with `unique`"))
        rules.append(
            Rule(
                event=event.name,
                unique=UNIQUE_FIELDS[unique] if unique else None,
                filter=tuple(sorted(filters.items())),
                operator=entry.get("operator"),
            )
        )
    kinds = {rule.kind for rule in rules}
    if len(kinds) > 1:
        problems.append(
            Problem(
                shown,
                "events",
                "mixes " + " and ".join(sorted(kinds)) + " entries; "
                "a metric counts either unique values, totals or sums (`operator: "
                + SUM_OPERATOR + "`), not several",
            )
        )
    uniques = {rule.unique for rule in rules if rule.unique}
    if len(uniques) > 1:
        problems.append(
            Problem(shown, "events", "all entries of a unique metric must use the same `unique` value")
        )
    return rules if len(problems) == before else []
