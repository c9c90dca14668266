"""New event and metric definitions from a few options, in the format the loader expects.

`changes()` checks the options against the definitions already on disk and returns
the files to write; `write()` writes them only once the whole folder, with the
new files in place, passes `load_definitions`. Nothing here talks to a terminal,
so the command line and the tests drive the same code.
"""

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from .definition_warnings import MAX_ACTION_LENGTH
from .definitions import DefinitionsError, load_definitions
from .model import (
    IDENTIFIERS,
    SUM_OPERATOR,
    TIME_FRAME_SUFFIX,
    TIME_FRAMES,
    Definitions,
    EventDefinition,
    unique_field,
)

# What a metric can count distinct values of, as GitLab's generator offers: ids, then the base properties.
UNIQUE_CHOICES = ("user.id", "project.id", "namespace.id", "label", "property", "value")
OPERATOR_CHOICES = (SUM_OPERATOR,)
TIERS = ("free", "premium", "ultimate")
# GitLab's generator writes TODO until the merge request exists (its metric schema wants a string).
PLACEHOLDER_URL = "TODO"
# A metric with several time frames is one file in counts_all/; a single frame has a folder of its own.
TIME_FRAME_DIRS = {"7d": "counts_7d", "28d": "counts_28d", "all": "counts_all"}
UNIQUE_NOUNS = {"user.id": "users", "project.id": "projects", "namespace.id": "namespaces"}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

EVENT_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
EVENT_NAME_STYLE = (
    "lowercase words joined by single underscores, starting with a letter, at least an object and an"
    " action (e.g. project_created, clone_button_clicked)"
)
GROUP_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# What list options arrive as: texts from the command line, each "a", "a,b" or "a b".
Options = Iterable[object] | None


class GeneratorError(ValueError):
    """Options that cannot make valid definitions; the message says which option and why."""


@dataclass(frozen=True)
class Request:
    """What to generate: the events that do not exist yet, and one metric of them over some time frames."""

    event: str
    more_events: tuple[str, ...] = ()  # further events the metric counts, as GitLab's metrics over several events
    group: str | None = None  # required for a new event; an existing event lends its own
    unique: str | None = None  # None counts totals (or sums, with operator)
    operator: str | None = None  # "sum(value)" sums the events' value
    filters: tuple[str, ...] = ()  # "property=value" texts: only matching events are counted
    properties: tuple[str, ...] = ()  # "name" or "name=description": custom additional properties of a new event
    key_name: str | None = None  # the key path's middle part instead of the event names
    time_frames: tuple[str, ...] = ()  # empty: 7d and 28d for unique metrics, all three for totals
    description: str | None = None
    metric_description: str | None = None
    category: str | None = None  # the Snowplow category of a new event's calls that pass none
    identifiers: tuple[str, ...] = IDENTIFIERS
    tiers: tuple[str, ...] = TIERS
    milestone: str | None = None
    introduced_by_url: str | None = None
    server_side_only: bool = False  # the usage-data API refuses the event from browsers


@dataclass(frozen=True)
class NewFile:
    path: Path  # relative to the definitions folder
    document: dict[str, Any]
    exists: bool = False

    @property
    def text(self) -> str:
        return render(self.document)


@dataclass(frozen=True)
class FileChanges:
    folder: Path
    files: tuple[NewFile, ...]
    key_paths: tuple[str, ...]  # the metric's key paths as the service ping reports them
    notes: tuple[str, ...] = ()


# -- checking single options ---------------------------------------------------------------------


def split_values(values: Options) -> list[str]:
    """("7d,28d", "all") -> ["7d", "28d", "all"]: list options take spaces, commas or both."""
    items = [item.strip() for value in values or () for item in str(value).split(",")]
    return list(dict.fromkeys(item for item in items if item))


def check_event_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise GeneratorError("the event name is missing (--event)")
    limit = MAX_ACTION_LENGTH
    if len(name) > limit:
        raise GeneratorError(f"event name '{name}' is {len(name)} characters long; the limit is {limit}")
    if not EVENT_NAME.match(name):
        raise GeneratorError(f"event name '{name}' is not in the naming style: {EVENT_NAME_STYLE}")
    return name


def check_group(group: str | None) -> str:
    group = (group or "").strip()
    if not GROUP_NAME.match(group):
        raise GeneratorError(
            f"product group '{group}' must be lowercase words joined by underscores (e.g. project_management)"
        )
    return group


def check_unique(unique: str | None) -> str | None:
    if unique in (None, "", "none"):
        return None
    if unique not in UNIQUE_CHOICES:
        raise GeneratorError(f"--unique must be one of {', '.join(UNIQUE_CHOICES)}, not '{unique}'")
    return unique


def check_operator(operator: str | None, unique: str | None) -> str | None:
    if operator in (None, "", "none", "total"):
        return None
    if operator not in OPERATOR_CHOICES:
        raise GeneratorError(f"--operator must be {' or '.join(OPERATOR_CHOICES)}, not '{operator}'")
    if unique:
        raise GeneratorError(f"--operator {operator} sums values: it cannot be combined with --unique {unique}")
    return operator


def check_properties(texts: Options) -> dict[str, str]:
    """("language=Programming language", "size") -> {"language": "Programming language", "size": "Size"}."""
    properties: dict[str, str] = {}
    for text in split_values(texts):
        name, _, description = text.partition("=")
        name = name.strip()
        if not PROPERTY_NAME.match(name) or name in IDENTIFIERS:
            raise GeneratorError(
                f"property name '{name}' must be lowercase words joined by _ and not one of"
                f" {', '.join(IDENTIFIERS)} (those are identifiers)"
            )
        properties[name] = description.strip() or default_description(name)
    return properties


def check_filters(texts: Options) -> dict[str, str | int | float]:
    """("label=rubygems", "size=100") -> {"label": "rubygems", "size": 100}: `value` is a number, label and property text."""
    filters: dict[str, str | int | float] = {}
    for text in split_values(texts):
        name, equals, value = (part.strip() for part in text.partition("="))
        if not equals or not PROPERTY_NAME.match(name) or not value:
            raise GeneratorError(f"filter '{text}' must be property=value, e.g. label=rubygems")
        number = _number(value)
        if name == "value" and number is None:
            raise GeneratorError(f"filter value={value}: the value property is a number")
        filters[name] = value if name in ("label", "property") or number is None else number
    return filters


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            number: int | float = kind(text)
        except ValueError:
            continue
        return number
    return None


def check_key_name(name: str | None) -> str | None:
    if name is not None and not PROPERTY_NAME.match(name):
        raise GeneratorError(f"--key-name '{name}' must be lowercase words joined by _")
    return name


def default_time_frames(unique: str | None) -> tuple[str, ...]:
    return ("7d", "28d") if unique else TIME_FRAMES


def check_time_frames(options: Options, unique: str | None) -> tuple[str, ...]:
    """The frames in their canonical order; the defaults when none are given."""
    frames = split_values(options)
    if not frames:
        return default_time_frames(unique)
    for frame in frames:
        if frame not in TIME_FRAMES:
            raise GeneratorError(f"invalid time frame '{frame}': allowed are {', '.join(TIME_FRAMES)}")
    if unique and "all" in frames:
        raise GeneratorError(
            f"time frame 'all' cannot be used with --unique {unique}: unique counts are kept for"
            " 7d and 28d only; drop 'all' or --unique"
        )
    return tuple(frame for frame in TIME_FRAMES if frame in frames)


def check_tiers(options: Options) -> tuple[str, ...]:
    tiers = split_values(options) or list(TIERS)
    wrong = [tier for tier in tiers if tier not in TIERS]
    if wrong:
        raise GeneratorError(f"unknown tier(s) {', '.join(wrong)}: allowed are {', '.join(TIERS)}")
    return tuple(tier for tier in TIERS if tier in tiers)


def check_identifiers(options: Options, unique: str | None) -> tuple[str, ...]:
    identifiers = split_values(options) or list(IDENTIFIERS)
    wrong = [name for name in identifiers if name not in IDENTIFIERS]
    if wrong:
        raise GeneratorError(f"unknown identifier(s) {', '.join(wrong)}: allowed are {', '.join(IDENTIFIERS)}")
    needed = unique_field(unique) if unique else None
    if needed in IDENTIFIERS and needed not in identifiers:
        raise GeneratorError(f"--unique {unique} needs '{needed}' in --identifiers")
    return tuple(name for name in IDENTIFIERS if name in identifiers)


def default_milestone() -> str:
    """The release that introduces a definition: this package's major.minor version."""
    try:
        return ".".join(version("internal-events-flask").split(".")[:2])
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "1.0"


def default_description(event: str) -> str:
    return event.replace("_", " ").capitalize()


def default_metric_description(
    events: Sequence[str],
    unique: str | None,
    operator: str | None = None,
    filters: Mapping[str, object] | None = None,
) -> str:
    names = " or ".join(events)
    if operator:
        text = f"Sum of the value of {names}"
    elif unique in UNIQUE_NOUNS:
        text = f"Count of unique {UNIQUE_NOUNS[unique]} who triggered {names}"
    elif unique:
        text = f"Count of distinct {unique} values of {names}"
    else:
        text = f"Total count of {names}"
    if filters:
        text += " where " + ", ".join(f"{name} is {value}" for name, value in filters.items())
    return text


# -- names and documents -------------------------------------------------------------------------


def metric_key_path(
    events: Sequence[str],
    unique: str | None,
    frames: Sequence[str],
    operator: str | None = None,
    filters: Mapping[str, object] | None = None,
    key_name: str | None = None,
) -> str:
    """GitLab's generator's key path: a single time frame carries its suffix, a list gets it on loading."""
    part = key_name or "_and_".join(events) + "".join(
        f"_with_{name}_{_slug(value)}" for name, value in sorted((filters or {}).items())
    )
    if operator:
        base = f"sums.sum_value_from_{part}"
    elif unique:
        base = f"redis_hll_counters.count_distinct_{unique.replace('.', '_')}_from_{part}"
    else:
        base = f"counts.count_total_{part}"
    return base + TIME_FRAME_SUFFIX[frames[0]] if len(frames) == 1 else base


def _slug(value: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_") or "empty"


def reported_key_paths(key_path: str, frames: Sequence[str]) -> tuple[str, ...]:
    if len(frames) == 1:
        return (key_path,)
    return tuple(key_path + TIME_FRAME_SUFFIX[frame] for frame in frames)


def metric_path(key_path: str, frames: Sequence[str]) -> Path:
    folder = TIME_FRAME_DIRS[frames[0]] if len(frames) == 1 else TIME_FRAME_DIRS["all"]
    return Path("metrics") / folder / f"{key_path.rsplit('.', 1)[-1]}.yml"


def event_document(request: Request, event: str, properties: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "description": (request.description if event == request.event else None) or default_description(event),
        "internal_events": True,
        "action": event,
        "category": request.category,
        "identifiers": list(request.identifiers),
        "additional_properties": {name: {"description": text} for name, text in properties.items()} or None,
        "product_group": request.group,
        "milestone": request.milestone or default_milestone(),
        "introduced_by_url": request.introduced_by_url or PLACEHOLDER_URL,
        "tiers": list(request.tiers),
    }
    if request.server_side_only:  # GitLab's schema forbids unknown keys but leaves extra_properties free-form
        document["extra_properties"] = {"server_side_only": True}
    return {name: value for name, value in document.items() if value is not None}


def metric_document(
    request: Request,
    events: Sequence[str],
    key_path: str,
    frames: Sequence[str],
    group: str,
    filters: Mapping[str, object],
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for event in events:
        rule: dict[str, Any] = {"name": event}
        if request.unique:
            rule["unique"] = request.unique
        if filters:
            rule["filter"] = dict(filters)
        if request.operator:
            rule["operator"] = request.operator
        rules.append(rule)
    return {
        "key_path": key_path,
        "description": request.metric_description
        or default_metric_description(events, request.unique, request.operator, filters),
        "product_group": group,
        "performance_indicator_type": [],
        "value_type": "number",
        "status": "active",
        "milestone": request.milestone or default_milestone(),
        "introduced_by_url": request.introduced_by_url or PLACEHOLDER_URL,
        "time_frame": list(frames) if len(frames) > 1 else frames[0],
        "data_source": "internal_events",
        "data_category": "optional",
        "tiers": list(request.tiers),
        "events": rules,
    }


class _Flow(list[Any]):
    """A list written on one line, as the definitions write time frames, tiers and event rules."""


class _FlowMap(dict[str, Any]):
    pass


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML has no type hints
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))

FLOW_FIELDS = {"performance_indicator_type", "time_frame", "tiers"}


def render(document: Mapping[str, Any]) -> str:
    """YAML in the definitions' house style; metrics keep short lists on one line."""
    styled = dict(document)
    if "key_path" in document:
        for name in FLOW_FIELDS & styled.keys():
            if isinstance(styled[name], list):
                styled[name] = _Flow(styled[name])
        styled["events"] = [_FlowMap(rule) for rule in document["events"]]
    text: str = yaml.dump(styled, Dumper=_Dumper, explicit_start=True, sort_keys=False, allow_unicode=True, width=1000)
    return text


# -- planning and writing ------------------------------------------------------------------------


def changes(
    request: Request, folder: str | os.PathLike[str], definitions: Definitions, force: bool = False
) -> FileChanges:
    """Check `request` against the loaded `definitions` of `folder`; the files to write, or GeneratorError."""
    folder = Path(folder)
    events = tuple(dict.fromkeys(check_event_name(name) for name in (request.event, *request.more_events)))
    unique = check_unique(request.unique)
    frames = check_time_frames(request.time_frames, unique)
    request = replace(
        request,
        event=events[0],
        unique=unique,
        operator=check_operator(request.operator, unique),
        tiers=check_tiers(request.tiers),
        identifiers=check_identifiers(request.identifiers, unique),
    )
    filters = check_filters(request.filters)
    properties = check_properties(request.properties)
    key_name = check_key_name(request.key_name)
    files: list[NewFile] = []
    notes: list[str] = []
    groups: list[str | None] = []
    for event in events:
        existing = definitions.events.get(event)
        if existing is None:
            new_file, new_group = _new_event(request, folder, event, properties, filters)
            files.append(new_file)
            groups.append(new_group)
        else:
            _check_counts(request, existing, filters)
            groups.append(existing.raw.get("product_group"))
            notes.append(f"event '{event}' is already defined in {existing.path}: only the metric is added")
    group = check_group(request.group) if request.group else next(filter(None, groups), None)
    if not group:
        raise GeneratorError("the product group is missing (--group)")
    key_path = metric_key_path(events, unique, frames, request.operator, filters, key_name)
    target = metric_path(key_path, frames)
    reported = reported_key_paths(key_path, frames)
    _refuse_taken_key_paths(folder, target, reported, definitions)
    exists = _refuse_existing(folder, target, force, why="already exists; pass --force to overwrite it")
    document = metric_document(request, events, key_path, frames, group, filters)
    files.append(NewFile(target, document, exists=exists))
    return FileChanges(folder=folder, files=tuple(files), key_paths=reported, notes=tuple(notes))


def _new_event(
    request: Request, folder: Path, event: str, properties: dict[str, str], filters: Mapping[str, object]
) -> tuple[NewFile, str]:
    """A new event's file; it declares the properties its metric reads (unique, sum, filters)."""
    if not request.group:
        raise GeneratorError(f"event '{event}' is new: its product group is missing (--group)")
    group = check_group(request.group)
    needed = [unique_field(request.unique)] if request.unique else []
    needed += ["value"] if request.operator else []
    for name in [*needed, *filters]:
        if name not in IDENTIFIERS:
            properties = {**properties, name: properties.get(name) or default_description(name)}
    event_file = Path("events") / f"{event}.yml"
    _refuse_existing(folder, event_file, force=False, why="defines another event under this file name")
    return NewFile(event_file, event_document(replace(request, group=group), event, properties)), group


def _check_counts(request: Request, existing: EventDefinition, filters: Mapping[str, object]) -> None:
    """What GitLab's generator offers for an existing event: its identifiers and declared properties only."""
    needed = unique_field(request.unique) if request.unique else None
    if needed in IDENTIFIERS and needed not in existing.identifiers:
        raise GeneratorError(
            f"event '{existing.name}' ({existing.path}) has no '{needed}' identifier, so a metric cannot count"
            f" unique {request.unique}: add '{needed}' to its identifiers first"
        )
    wanted = set(filters) | ({"value"} if request.operator else set())
    if needed is not None and needed not in IDENTIFIERS:
        wanted.add(needed)
    missing = sorted(wanted - existing.properties)
    if missing:
        raise GeneratorError(
            f"event '{existing.name}' ({existing.path}) has no additional property {', '.join(missing)}: declare"
            f" it under additional_properties first (declared: {', '.join(sorted(existing.properties)) or 'none'})"
        )


def _refuse_existing(folder: Path, relative: Path, force: bool, why: str) -> bool:
    exists = (folder / relative).exists()
    if exists and not force:
        raise GeneratorError(f"{Path(folder.name) / relative} {why}")
    return exists


def _refuse_taken_key_paths(folder: Path, target: Path, key_paths: tuple[str, ...], definitions: Definitions) -> None:
    """A key path defined by another file would be reported twice: that is never overwritten."""
    mine = (folder / target).resolve()
    for metric in definitions.metrics:
        if metric.key_path in key_paths and (folder.parent / metric.path).resolve() != mine:
            raise GeneratorError(
                f"metric with key path '{metric.key_path}' already exists in {metric.path}; edit that file instead"
            )


def write(changes: FileChanges) -> None:
    """Write the planned files once the folder with them in it loads.

    Each file is replaced atomically and the event comes before its metric, so a
    running app that reloads in between never sees a broken set.
    """
    _check_loads(changes)
    for new in changes.files:
        path = changes.folder / new.path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(new.text, encoding="utf-8")
        os.replace(temporary, path)


def _check_loads(changes: FileChanges) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / changes.folder.name
        shutil.copytree(changes.folder, trial)
        for new in changes.files:
            (trial / new.path).parent.mkdir(parents=True, exist_ok=True)
            (trial / new.path).write_text(new.text, encoding="utf-8")
        try:
            load_definitions(trial)
        except DefinitionsError as error:
            raise GeneratorError(f"the generated definitions would not load: {error}") from None
