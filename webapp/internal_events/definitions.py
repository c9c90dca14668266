"""Loading and validating event and metric definitions from YAML.

Every file is checked against the JSON Schemas in `schemas/` (GitLab's rules,
no stricter), then across files (a metric's events exist, key paths are unique).
A file with a problem is skipped with everything that depends on it, and every
problem is collected, so a developer fixes them in one pass and production can
run on the valid rest. This project's own conventions are `warnings` for lint.
"""

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from . import definition_warnings
from .model import (
    IDENTIFIERS,
    SUM_OPERATOR,
    TIME_FRAME_SUFFIX,
    TOTAL_OPERATOR,
    UNBOXED_TIME_FRAME,
    Definitions,
    EventDefinition,
    Metric,
    Rule,
    unique_field,
)
from .parse_cache import ParseCache
from .problems import Problem

SCHEMA_DIR = Path(__file__).parent / "schemas"
Document = dict[str, Any]  # a parsed YAML file: its fields' types are what the JSON Schema checked
Documents = list[tuple[str, Document]]  # (the file as shown, its document)


class DefinitionsError(Exception):
    """The definitions folder has problems; `problems` lists every one of them."""

    def __init__(self, problems: Iterable[object]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the internal events definitions:\n{lines}")


@dataclass(frozen=True)
class Loaded:
    """What a folder yields: the valid definitions, the problems of the files left out, and lint warnings.

    `stamps`: (path, mtime_ns, size) of every file as it was read, so a watcher starts from them without
    walking the tree again.
    """

    definitions: Definitions
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    stamps: tuple[tuple[str, int, int], ...] = ()


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text())
    return loaded


@cache
def validator(name: str) -> Any:  # jsonschema ships no type information
    """The validator that explains what is wrong (jsonschema's messages); imported only when a file is invalid."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name))


@cache
def fast_validator(name: str) -> jsonschema_rs.Validator:
    """The validator that only says whether a file is valid: ~200x faster, so a GitLab-sized tree loads in time."""
    return jsonschema_rs.validator_for(schema(name))


def yaml_files(folder: str | os.PathLike[str]) -> list[str]:
    """The paths (strings) of the YAML files below `folder`, in a stable order.

    os.walk and strings: pathlib's objects cost ~0.1 s over GitLab's tree, a third of a load.
    """
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        found += sorted(os.path.join(directory, name) for name in names if name.endswith((".yml", ".yaml")))
    return found


def definition_files(folder: str | os.PathLike[str]) -> list[str]:
    """Every file a definitions folder is made of: what a reload has to watch."""
    return yaml_files(Path(folder) / "events") + yaml_files(Path(folder) / "metrics")


def stamps(paths: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of each file still there: what tells a reload that something was edited."""
    found = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:  # removed while we looked
            continue
        found.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def load_definitions(folder: str | os.PathLike[str]) -> Definitions:
    """The definitions of `folder` (`events/` and `metrics/`, recursively); DefinitionsError on any problem."""
    loaded = load(folder)
    if loaded.problems:
        raise DefinitionsError(loaded.problems)
    return loaded.definitions


def load(folder: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None) -> Loaded:
    """Every valid definition of `folder`, skipping files with problems (and metrics of skipped events).

    `cache`: a file keeping the parsed files between processes (parse_cache.py); without it, every file is parsed.
    """
    folder = Path(folder)
    if not (folder / "events").is_dir():
        problem = Problem(str(folder), "", "has no events/ folder")
        return Loaded(Definitions(events={}, metrics=()), (problem,), stamps=stamps(definition_files(folder)))
    problems: list[Problem] = []
    warnings: list[Problem] = []
    read: list[tuple[str, int, int]] = []  # the stamps of the files as read
    parser = ParseCache(cache)

    def read_all(kind: str) -> tuple[Documents, dict[str, str]]:
        """The valid documents, and {action or file name: file} of the invalid ones."""
        documents: Documents = []
        invalid: dict[str, str] = {}
        parent = 0 if str(folder.parent) == "." else len(str(folder.parent)) + 1
        for path in yaml_files(folder / kind):
            shown = path[parent:]  # as the developer sees it: relative to the definitions' parent
            document = _read_yaml(parser, path, shown, problems, read)
            if document is not None and _schema_ok(document, kind[:-1], shown, problems):
                documents.append((shown, document))
            else:
                action = document.get("action") if document is not None else None
                invalid[action if isinstance(action, str) else Path(path).stem] = shown
        return documents, invalid

    event_documents, skipped = read_all("events")
    events = _build_events(event_documents, problems, warnings)
    metric_documents, _ = read_all("metrics")
    metrics, ignored = _build_metrics(metric_documents, events, skipped, problems, warnings)
    parser.save()
    warnings += definition_warnings.of_events(event_documents)
    warnings += definition_warnings.of_metrics(metric_documents)
    definitions = Definitions(events=events, metrics=tuple(metrics), ignored_metrics=ignored)
    return Loaded(definitions, tuple(problems), tuple(warnings), tuple(read))


def _read_yaml(
    parser: ParseCache, path: str, shown: str, problems: list[Problem], read: list[tuple[str, int, int]]
) -> Document | None:
    """The document of `path`, or None with its problem. Its stamp goes to `read`, taken before the content so
    an edit racing the read is seen as a change by the next check."""
    try:
        file = open(path, "rb")
    except OSError as error:
        read.extend(stamps([path]))  # as a check for edits sees it: unreadable but there, or already gone
        problems.append(Problem(shown, "", f"cannot be read ({error})"))
        return None
    try:
        with file:
            stat = os.fstat(file.fileno())
            read.append((path, stat.st_mtime_ns, stat.st_size))
            document = parser.parse(file.read())
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


def _schema_ok(document: Document, schema_name: str, shown: str, problems: list[Problem]) -> bool:
    try:
        if fast_validator(schema_name).is_valid(document):
            return True
    except (ValueError, TypeError, OverflowError):  # YAML gave what JSON has not (a date, a huge int): ask jsonschema
        pass
    from jsonschema.exceptions import best_match

    for error in sorted(validator(schema_name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        if error.context:  # oneOf/anyOf: the closest branch says what was wrong
            error = best_match(error.context)
        problems.append(Problem(shown, _field_name(error.absolute_path), error.message))
    return False


def _field_name(path: Iterable[str | int]) -> str:
    return ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in path).replace(".[", "[")


def _build_events(documents: Documents, problems: list[Problem], warnings: list[Problem]) -> dict[str, EventDefinition]:
    """Events by action. Only `internal_events: true` events need unique actions, as in GitLab."""
    events: dict[str, EventDefinition] = {}
    for shown, doc in documents:
        event = _event(shown, doc)
        earlier = events.get(event.name)
        if earlier is None or (event.internal and not earlier.internal):
            events[event.name] = event
        elif event.internal:
            problems.append(Problem(shown, "action", f"event '{event.name}' is already defined in {earlier.path}"))
        else:
            warnings.append(
                Problem(
                    shown,
                    "action",
                    f"legacy event '{event.name}' is also defined in {earlier.path}, which tracking uses",
                )
            )
    return events


def _event(shown: str, doc: Document) -> EventDefinition:
    # GitLab drops additional properties named like an identifier.
    properties = frozenset(doc.get("additional_properties") or ()) - set(IDENTIFIERS)
    return EventDefinition(
        name=doc["action"],
        description=doc["description"],
        path=shown,
        identifiers=frozenset(doc.get("identifiers") or ()) & set(IDENTIFIERS),
        properties=properties,
        server_side_only=(doc.get("extra_properties") or {}).get("server_side_only") is True,
        raw=doc,
        internal=doc.get("internal_events") is True,
        category=doc.get("category"),
    )


def _build_metrics(
    documents: Documents,
    events: Mapping[str, EventDefinition],
    skipped: Mapping[str, str],
    problems: list[Problem],
    warnings: list[Problem],
) -> tuple[list[Metric], int]:
    """Metrics per time frame. `removed` ones are never loaded, as in GitLab, but keep their key paths."""
    metrics: list[Metric] = []
    key_paths: dict[str, str] = {}  # key path -> the file defining it
    ignored = 0
    for shown, doc in documents:
        frames = doc["time_frame"] if isinstance(doc["time_frame"], list) else [doc["time_frame"]]
        reported = [(frame, _key_path(doc, frame)) for frame in frames]
        taken = [key for _, key in reported if key in key_paths]
        for key in taken:
            problems.append(Problem(shown, "key_path", f"'{key}' is already defined in {key_paths[key]}"))
        key_paths.update((key, shown) for _, key in reported if key not in key_paths)
        if doc["data_source"] != "internal_events":
            ignored += 1
            continue
        if doc["status"] == "removed" or taken:
            continue
        rules = _metric_rules(doc, events, skipped, shown, problems, warnings)
        if not rules or not _frames_ok(frames, rules, shown, problems):
            continue
        for frame, key_path in reported:
            metrics.append(
                Metric(
                    key_path=key_path,
                    time_frame="all" if frame == UNBOXED_TIME_FRAME else frame,
                    rules=tuple(rules),
                    path=shown,
                    status=doc["status"],
                    description=doc.get("description") or "",
                    raw=doc,
                )
            )
    return metrics, ignored


def _key_path(doc: Document, frame: str) -> str:
    """GitLab suffixes every frame of a list, `[7d]` included; a single frame keeps the key path as written."""
    key_path: str = doc["key_path"]
    return key_path + (TIME_FRAME_SUFFIX[frame] if isinstance(doc["time_frame"], list) else "")


def _frames_ok(frames: Iterable[str], rules: Sequence[Rule], shown: str, problems: list[Problem]) -> bool:
    if rules[0].kind == "unique" and not set(frames) <= {"7d", "28d"}:
        problems.append(
            Problem(
                shown,
                "time_frame",
                "unique metrics count over a fixed duration: use 7d and/or 28d, not 'all' or 'none'",
            )
        )
        return False
    return True


def _metric_rules(
    doc: Document,
    events: Mapping[str, EventDefinition],
    skipped: Mapping[str, str],
    shown: str,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[Rule]:
    """The counting rules of one metric, or [] after recording why it has none."""
    rules: list[Rule] = []
    before = len(problems)
    for index, entry in enumerate(doc["events"]):
        field = f"events[{index}]"
        event = events.get(entry["name"])
        if event is None:
            where = (
                f"is not loaded: {skipped[entry['name']]} has problems"
                if entry["name"] in skipped
                else "is not defined in events/"
            )
            problems.append(Problem(shown, f"{field}.name", f"event '{entry['name']}' {where}"))
            continue
        unique = unique_field(entry["unique"]) if entry.get("unique") else None
        operator = entry.get("operator")
        if operator == TOTAL_OPERATOR and unique:
            problems.append(
                Problem(
                    shown,
                    f"{field}.operator",
                    "`operator: total` with `unique` (GitLab's UniqueTotalsMetric, a count per value) is not"
                    " supported: drop `operator` to count distinct values, or `unique` to count totals",
                )
            )
            continue
        if operator and unique:
            problems.append(Problem(shown, f"{field}.operator", f"'{operator}' cannot be combined with `unique`"))
            continue
        filters = entry.get("filter") or {}
        warnings.extend(definition_warnings.of_rule(shown, field, entry, event, unique))
        rules.append(
            Rule(
                event=event.name,
                unique=unique,
                filter=tuple(sorted(filters.items())),
                operator=None if operator == TOTAL_OPERATOR else operator,
            )
        )
    kinds = {rule.kind for rule in rules}
    if len(kinds) > 1:
        problems.append(
            Problem(
                shown,
                "events",
                "mixes " + " and ".join(sorted(kinds)) + " entries; "
                "a metric counts either unique values, totals or sums (`operator: " + SUM_OPERATOR + "`), not several",
            )
        )
    if len({rule.unique for rule in rules if rule.unique}) > 1:
        problems.append(Problem(shown, "events", "all entries of a unique metric must use the same `unique` value"))
    return rules if len(problems) == before else []
