"""Finding the event names a code base uses, and checking them against the definitions.

A tracking call with a name nobody defined fails only when it runs (or, in
production, is silently dropped); a definition nobody uses reports zeros
forever. Both are cheap to find by reading the source, which is what this does.
"""

import ast
import io
import os
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from .model import Definitions

SUFFIXES = {".html", ".htm", ".jinja", ".jinja2", ".j2", ".js", ".mjs", ".vue", ".py"}
# Generated or third-party code: what it tracks is decided elsewhere.
SKIPPED_DIRS = {"gen", "node_modules", "__pycache__", ".webassets-cache", "dist", "vendor"}
SKIPPED_SUFFIXES = (".min.js", ".bundle.js")

USAGE_PATTERNS = (
    # An HTML attribute; `data-event-tracking-load` and the like are other attributes.
    re.compile(r"""\bdata-event-tracking(?![\w-])\s*=\s*(?P<q>["'])(?P<name>.*?)(?P=q)""", re.S),
    # The JS client's call, in either spelling, with a quoted name (also in Vue templates).
    re.compile(r"""\b(?:trackEvent|track_event)\(\s*(?P<q>["'`])(?P<name>.*?)(?P=q)""", re.S),
)
# Anything else is a template expression or a variable (`{{ name }}`, `${name}`): not checkable here.
LITERAL_NAME = re.compile(r"^[\w.:-]*[A-Za-z0-9][\w.:-]*$")


@dataclass(frozen=True)
class Usage:
    event: str
    path: str  # relative to the scanned project's root
    line: int


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # path, or path:line
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


def app_folders(app: Flask) -> tuple[Path, tuple[str, ...]]:
    """A Flask app's project folder (above its package) and, relative to it, the folders holding its calls:
    its templates, its static files and its package."""
    root = Path(app.root_path).parent
    folders = [
        Path(app.root_path, app.template_folder) if app.template_folder else None,
        app.static_folder,
        app.root_path,
    ]
    return root, tuple(os.path.relpath(folder, root) for folder in folders if folder)


def source_files(root: str | os.PathLike[str], folders: Iterable[str]) -> Iterator[Path]:
    """The files below `root`'s `folders` that can hold tracking calls, generated code left out."""
    top = Path(root)
    for folder in folders:
        if not (top / folder).is_dir():
            continue
        for path in sorted((top / folder).rglob("*")):
            relative = path.relative_to(top)
            if (
                path.suffix in SUFFIXES
                and path.is_file()
                and not SKIPPED_DIRS.intersection(relative.parts)
                and not path.name.endswith(SKIPPED_SUFFIXES)
            ):
                yield path


def usages_in(text: str, shown_path: str) -> list[Usage]:
    """Every literal event name in `text`, with its line number."""
    if shown_path.endswith(".py"):
        try:
            return _python_usages(text, shown_path)
        except (tokenize.TokenError, SyntaxError):
            pass  # not valid Python: read it as text like any other file
    found: list[Usage] = []
    for pattern in USAGE_PATTERNS:
        for match in pattern.finditer(text):
            name = match.group("name").strip()
            if LITERAL_NAME.match(name):
                line = text.count("\n", 0, match.start("name")) + 1
                found.append(Usage(name, shown_path, line))
    return sorted(found, key=lambda usage: usage.line)


def _python_usages(text: str, shown_path: str) -> list[Usage]:
    """Calls in code only: comments and docstrings that show an example call are not usages."""
    tokens = [
        token
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    ]
    found: list[Usage] = []
    for name, paren, argument in zip(tokens, tokens[1:], tokens[2:]):
        if (name.type, name.string, paren.string, argument.type) == (
            tokenize.NAME,
            "track_event",
            "(",
            tokenize.STRING,
        ):
            try:
                event = ast.literal_eval(argument.string)
            except (ValueError, SyntaxError):  # an f-string: built at run time
                continue
            if isinstance(event, str) and LITERAL_NAME.match(event):
                found.append(Usage(event, shown_path, argument.start[0]))
    return found


def scan(root: str | os.PathLike[str], folders: Iterable[str]) -> list[Usage]:
    usages: list[Usage] = []
    for path in source_files(root, folders):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # not a text file we can read: it holds no calls we could check
        usages.extend(usages_in(text, str(path.relative_to(root))))
    return usages


def check(usages: list[Usage], definitions: Definitions, flask_command: str = "flask") -> list[Finding]:
    """Errors for names used but not defined; warnings for events, and their metrics, used nowhere,
    and for server-side events a page or script would send (the usage-data API refuses them)."""
    findings: list[Finding] = []
    for usage in usages:
        definition = definitions.events.get(usage.event)
        if definition is not None and definition.server_side_only and not usage.path.endswith(".py"):
            findings.append(
                Finding(
                    "warning",
                    f"{usage.path}:{usage.line}",
                    f"event '{usage.event}' is recorded by the server only (extra_properties.server_side_only):"
                    " the usage-data API refuses it from browsers; track it with track_event in Python",
                )
            )
        if definition is None:
            findings.append(
                Finding(
                    "error",
                    f"{usage.path}:{usage.line}",
                    f"event '{usage.event}' is not defined; define it with"
                    f" `{flask_command} internal-events generate --event {usage.event}`"
                    if _definable(usage.event)
                    else f"event '{usage.event}' is not defined",
                )
            )
    used = {usage.event for usage in usages}
    unused = [event for name, event in sorted(definitions.events.items()) if name not in used]
    for event in unused:
        findings.append(Finding("warning", event.path, f"event '{event.name}' is defined but never used"))
    unused_names = {event.name for event in unused}
    reported: set[str] = set()
    for metric in definitions.metrics:
        idle = [name for name in metric.events if name in unused_names]
        if idle and metric.path not in reported:
            reported.add(metric.path)
            findings.append(
                Finding(
                    "warning",
                    metric.path,
                    f"metric '{metric.raw['key_path']}' counts event(s) never used: {', '.join(idle)}",
                )
            )
    return findings


def _definable(name: str) -> bool:
    return re.fullmatch(r"[a-z0-9_]+", name) is not None
