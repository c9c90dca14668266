"""New event and metric definitions from a few options, in the format the loader expects.

`plan()` checks the options against the definitions already on disk and returns
the files to write; `write()` writes them only once the whole folder, with the
new files in place, passes `load_definitions`. Nothing here talks to a terminal,
so the command line and the tests drive the same code.
"""

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from .definitions import DefinitionsError, load_definitions, validator
from .model import IDENTIFIERS, TIME_FRAME_SUFFIX, TIME_FRAMES, UNIQUE_FIELDS

UNIQUE_CHOICES = ("user.id", "project.id", "namespace.id")
TIERS = ("free", "premium", "ultimate")
DEFAULT_CATEGORY = "InternalEventTracking"
# A metric with several time frames is one file in counts_all/; a single frame has a folder of its own.
TIME_FRAME_DIRS = {"7d": "counts_7d", "28d": "counts_28d", "all": "counts_all"}
UNIQUE_NOUNS = {"user.id": "users", "project.id": "projects", "namespace.id": "namespaces"}

EVENT_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
EVENT_NAME_STYLE = (
    "lowercase words joined by single underscores, starting with a letter, at least an object and an"
    " action (e.g. project_created, clone_button_clicked)"
)
GROUP_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class GeneratorError(ValueError):
    """Options that cannot make valid definitions; the message says which option and why."""


@dataclass(frozen=True)
class Request:
    """What to generate: one event (unless it exists) and one metric of it over some time frames."""

    event: str
    group: str | None = None  # required for a new event; an existing event lends its own
    unique: str | None = None  # None counts totals
    time_frames: tuple = ()  # empty: 7d and 28d for unique metrics, all three for totals
    description: str | None = None
    metric_description: str | None = None
    category: str = DEFAULT_CATEGORY
    identifiers: tuple = IDENTIFIERS
    tiers: tuple = TIERS
    milestone: str | None = None
    introduced_by_url: str | None = None
    server_side_only: bool = False  # the usage-data API refuses the event from browsers


@dataclass(frozen=True)
class NewFile:
    path: Path  # relative to the definitions folder
    document: dict
    exists: bool = False

    @property
    def text(self):
        return render(self.document)


@dataclass(frozen=True)
class Plan:
    folder: Path
    files: tuple
    key_paths: tuple  # the metric's key paths as the service ping reports them
    notes: tuple = ()


# -- checking single options ---------------------------------------------------------------------


def split_values(values):
    """("7d,28d", "all") -> ["7d", "28d", "all"]: list options take spaces, commas or both."""
    items = [item.strip() for value in values or () for item in str(value).split(",")]
    return list(dict.fromkeys(item for item in items if item))


def check_event_name(name):
    name = (name or "").strip()
    if not name:
        raise GeneratorError("the event name is missing (--event)")
    limit = validator("event").schema["properties"]["action"]["maxLength"]
    if len(name) > limit:
        raise GeneratorError(f"event name '{name}' is {len(name)} characters long; the limit is {limit}")
    if not EVENT_NAME.match(name):
        raise GeneratorError(f"event name '{name}' is not in the naming style: {EVENT_NAME_STYLE}")
    return name


def check_group(group):
    group = (group or "").strip()
    if not GROUP_NAME.match(group):
        raise GeneratorError(
            f"product group '{group}' must be lowercase words joined by underscores (e.g. project_management)"
        )
    return group


def check_unique(unique):
    if unique in (None, "", "none"):
        return None
    if unique not in UNIQUE_CHOICES:
        raise GeneratorError(f"--unique must be one of {', '.join(UNIQUE_CHOICES)}, not '{unique}'")
    return unique


def default_time_frames(unique):
    return ("7d", "28d") if unique else TIME_FRAMES


def check_time_frames(frames, unique):
    """The frames in their canonical order; the defaults when none are given."""
    frames = split_values(frames)
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


def check_tiers(tiers):
    tiers = split_values(tiers) or list(TIERS)
    wrong = [tier for tier in tiers if tier not in TIERS]
    if wrong:
        raise GeneratorError(f"unknown tier(s) {', '.join(wrong)}: allowed are {', '.join(TIERS)}")
    return tuple(tier for tier in TIERS if tier in tiers)


def check_identifiers(identifiers, unique):
    identifiers = split_values(identifiers) or list(IDENTIFIERS)
    wrong = [name for name in identifiers if name not in IDENTIFIERS]
    if wrong:
        raise GeneratorError(
            f"unknown identifier(s) {', '.join(wrong)}: allowed are {', '.join(IDENTIFIERS)}"
        )
    needed = UNIQUE_FIELDS[unique] if unique else None
    if needed and needed not in identifiers:
        raise GeneratorError(f"--unique {unique} needs '{needed}' in --identifiers")
    return tuple(name for name in IDENTIFIERS if name in identifiers)


def default_milestone():
    """The release that introduces a definition: this package's major.minor version."""
    try:
        return ".".join(version("internal-events-flask").split(".")[:2])
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "1.0"


def default_description(event):
    return event.replace("_", " ").capitalize()


def default_metric_description(event, unique):
    if unique:
        return f"Count of unique {UNIQUE_NOUNS[unique]} who triggered {event}"
    return f"Total count of {event}"


# -- names and documents -------------------------------------------------------------------------


def metric_key_path(event, unique, frames):
    """The key path written in the file: a single time frame carries its suffix, a list gets it on loading."""
    if unique:
        base = f"redis_hll_counters.count_distinct_{unique.replace('.', '_')}_from_{event}"
    else:
        base = f"counts.count_total_{event}"
    return base + TIME_FRAME_SUFFIX[frames[0]] if len(frames) == 1 else base


def reported_key_paths(key_path, frames):
    if len(frames) == 1:
        return (key_path,)
    return tuple(key_path + TIME_FRAME_SUFFIX[frame] for frame in frames)


def metric_path(key_path, frames):
    folder = TIME_FRAME_DIRS[frames[0]] if len(frames) == 1 else TIME_FRAME_DIRS["all"]
    return Path("metrics") / folder / f"{key_path.rsplit('.', 1)[-1]}.yml"


def event_document(request):
    document = {
        "description": request.description or default_description(request.event),
        "internal_events": True,
        "action": request.event,
        "category": request.category,
        "identifiers": list(request.identifiers),
        "product_group": request.group,
        "milestone": request.milestone or default_milestone(),
        "introduced_by_url": request.introduced_by_url,
        "tiers": list(request.tiers),
    }
    if request.server_side_only:  # GitLab's schema forbids unknown keys but leaves extra_properties free-form
        document["extra_properties"] = {"server_side_only": True}
    return document


def metric_document(request, key_path, frames, group):
    rule = {"name": request.event}
    if request.unique:
        rule["unique"] = request.unique
    return {
        "key_path": key_path,
        "description": request.metric_description
        or default_metric_description(request.event, request.unique),
        "product_group": group,
        "performance_indicator_type": [],
        "value_type": "number",
        "status": "active",
        "milestone": request.milestone or default_milestone(),
        "introduced_by_url": request.introduced_by_url,
        "time_frame": list(frames) if len(frames) > 1 else frames[0],
        "data_source": "internal_events",
        "data_category": "optional",
        "tiers": list(request.tiers),
        "events": [rule],
    }


class _Flow(list):
    """A list written on one line, as the definitions write time frames, tiers and event rules."""


class _FlowMap(dict):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))

FLOW_FIELDS = {"performance_indicator_type", "time_frame", "tiers"}


def render(document):
    """YAML in the definitions' house style; metrics keep short lists on one line."""
    styled = dict(document)
    if "key_path" in document:
        for name in FLOW_FIELDS & styled.keys():
            if isinstance(styled[name], list):
                styled[name] = _Flow(styled[name])
        styled["events"] = [_FlowMap(rule) for rule in document["events"]]
    return yaml.dump(
        styled, Dumper=_Dumper, explicit_start=True, sort_keys=False, allow_unicode=True, width=1000
    )


# -- planning and writing ------------------------------------------------------------------------


def plan(request, folder, definitions, force=False):
    """Check `request` against the loaded `definitions` of `folder`; the files to write, or GeneratorError."""
    folder = Path(folder)
    event = check_event_name(request.event)
    unique = check_unique(request.unique)
    frames = check_time_frames(request.time_frames, unique)
    request = replace(
        request,
        event=event,
        unique=unique,
        tiers=check_tiers(request.tiers),
        identifiers=check_identifiers(request.identifiers, unique),
    )
    existing = definitions.events.get(event)
    files, notes = [], []
    if existing is None:
        if not request.group:
            raise GeneratorError(f"event '{event}' is new: its product group is missing (--group)")
        group = check_group(request.group)
        event_file = Path("events") / f"{event}.yml"
        _refuse_existing(folder, event_file, force=False, why="defines another event under this file name")
        files.append(NewFile(event_file, event_document(replace(request, group=group))))
    else:
        group = check_group(request.group) if request.group else existing.raw.get("product_group")
        needed = UNIQUE_FIELDS[unique] if unique else None
        if needed and needed not in existing.identifiers:
            raise GeneratorError(
                f"event '{event}' ({existing.path}) has no '{needed}' identifier, so a metric cannot count"
                f" unique {unique}: add '{needed}' to its identifiers first"
            )
        notes.append(f"event '{event}' is already defined in {existing.path}: only the metric is added")
    if not group:
        raise GeneratorError("the product group is missing (--group)")
    key_path = metric_key_path(event, unique, frames)
    target = metric_path(key_path, frames)
    reported = reported_key_paths(key_path, frames)
    _refuse_taken_key_paths(folder, target, reported, definitions)
    exists = _refuse_existing(folder, target, force, why="already exists; pass --force to overwrite it")
    files.append(NewFile(target, metric_document(request, key_path, frames, group), exists=exists))
    return Plan(folder=folder, files=tuple(files), key_paths=reported, notes=tuple(notes))


def _refuse_existing(folder, relative, force, why):
    exists = (folder / relative).exists()
    if exists and not force:
        raise GeneratorError(f"{Path(folder.name) / relative} {why}")
    return exists


def _refuse_taken_key_paths(folder, target, key_paths, definitions):
    """A key path defined by another file would be reported twice: that is never overwritten."""
    mine = (folder / target).resolve()
    for metric in definitions.metrics:
        if metric.key_path in key_paths and (folder.parent / metric.path).resolve() != mine:
            raise GeneratorError(
                f"metric with key path '{metric.key_path}' already exists in {metric.path};"
                " edit that file instead"
            )


def write(plan):
    """Write the planned files once the folder with them in it loads.

    Each file is replaced atomically and the event comes before its metric, so a
    running app that reloads in between never sees a broken set.
    """
    _check_loads(plan)
    for new in plan.files:
        path = plan.folder / new.path
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(new.text, encoding="utf-8")
        os.replace(temporary, path)


def _check_loads(plan):
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / plan.folder.name
        shutil.copytree(plan.folder, trial)
        for new in plan.files:
            (trial / new.path).parent.mkdir(parents=True, exist_ok=True)
            (trial / new.path).write_text(new.text, encoding="utf-8")
        try:
            load_definitions(trial)
        except DefinitionsError as error:
            raise GeneratorError(f"the generated definitions would not load: {error}") from None
