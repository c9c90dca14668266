"""Definitions that follow their files: edits are picked up without a restart, bad edits never crash.

A reload happens when a file under the folder changed, at most once per
`check_interval` seconds. An invalid edit keeps the last valid set in use and
is reported through `error`, so a typo in YAML cannot take tracking down.
"""

import logging
import threading
import time

from .definitions import DefinitionsError, definition_files, load_definitions

log = logging.getLogger(__name__)


def _fingerprint(folder):
    stamps = []
    for path in definition_files(folder):
        try:
            stat = path.stat()
        except OSError:  # removed while we looked
            continue
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


class LiveDefinitions:
    def __init__(self, folder, check_interval=1.0):
        self.folder = folder
        self.check_interval = check_interval
        self.error = None
        self._lock = threading.Lock()
        self._fingerprint = _fingerprint(folder)
        self._current = load_definitions(folder)  # invalid at start: refuse to start
        self._checked_at = time.monotonic()

    def current(self):
        if time.monotonic() - self._checked_at >= self.check_interval:
            self.reload_if_changed()
        return self._current

    def reload_if_changed(self):
        """Reload when the files changed; return True when a new valid set is in use."""
        with self._lock:
            self._checked_at = time.monotonic()
            fingerprint = _fingerprint(self.folder)
            if fingerprint == self._fingerprint:
                return False
            self._fingerprint = fingerprint
            try:
                self._current = load_definitions(self.folder)
            except DefinitionsError as error:
                self.error = error
                log.error("Keeping the last valid internal events definitions: %s", error)
                return False
            except Exception as error:  # a loader bug must not take tracking down with it
                self.error = error
                log.exception("Keeping the last valid internal events definitions: loading failed")
                return False
            self.error = None
            log.info("Reloaded internal events definitions from %s", self.folder)
            return True
