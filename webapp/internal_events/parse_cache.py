"""Parsed definition files kept between processes, so a start-up reads a GitLab-sized tree without parsing its YAML.

Entries are keyed by a digest of each file's bytes: every file is still read on
every load, only parsing is skipped, so an edit, a checkout or a copy with old
modification times is never served stale. The cache is JSON (data, never code),
written to a temporary file and renamed into place, so processes writing at once
each leave a whole file and the last one wins; a file that cannot be read as a
cache is ignored and written again. A document JSON cannot carry unchanged (a
date, a non-string key) is parsed every time instead.
"""

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .yaml_reader import LOADER, load_yaml

log = logging.getLogger(__name__)
# What the cached documents were parsed by: another loader, or a change to yaml_reader.py's rules, starts afresh.
FORMAT = f"1 {LOADER.__name__} {yaml.__version__}"
# Documents kept beyond those of the last load (other folders', earlier versions'): twice GitLab's tree.
LIMIT = 8000


class ParseCache:
    """One load's parser: documents by content from `path` (none without one), then saved back to it.

    One file serves every definitions folder of an instance (a test's, a scratch copy's): documents are
    keyed by content, and the least recently used go first once there are more than LIMIT.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else None
        self._known: dict[str, Any] = _read(self.path) if self.path else {}
        self._used: dict[str, Any] = {}

    def parse(self, data: bytes) -> Any:
        """The document in the file content `data`; raises as `data.decode("utf-8")` and load_yaml do."""
        key = hashlib.blake2b(data, digest_size=16).hexdigest()
        if key in self._known:
            document = self._used[key] = self._known[key]
            return document
        document = load_yaml(data.decode("utf-8"))
        if self.path and _survives_json(document):
            self._used[key] = document
        return document

    def save(self) -> None:
        """Keep what this load used first, then what was kept before, up to LIMIT; written only after a parse."""
        if self.path is None or self._used.keys() <= self._known.keys():
            return
        kept = dict(self._used)
        for key, document in self._known.items():
            if len(kept) >= LIMIT:
                break
            kept.setdefault(key, document)
        temporary = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(handle, "wb") as file:  # dumps, not dump: one C-encoded string, not Python's chunks
                file.write(json.dumps({"format": FORMAT, "documents": kept}).encode())
            os.replace(temporary, self.path)
        except OSError as error:  # a read-only instance folder: loading works, only slower next time
            log.warning("Could not keep parsed definitions in %s: %s", self.path, error)
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


def _read(path: Path) -> dict[str, Any]:
    try:
        cached = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:  # ValueError: not JSON, or not UTF-8
        log.info("Ignoring the parsed definitions cache %s: %s", path, error)
        return {}
    if not isinstance(cached, dict) or cached.get("format") != FORMAT or not isinstance(cached.get("documents"), dict):
        return {}
    documents: dict[str, Any] = cached["documents"]
    return documents


def _survives_json(document: object) -> bool:
    """Whether JSON gives `document` back as it is (only strings, numbers, booleans, null, lists and string keys)."""
    try:
        same: bool = json.loads(json.dumps(document, allow_nan=False)) == document
        return same
    except (TypeError, ValueError, RecursionError):
        return False
