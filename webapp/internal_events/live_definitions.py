"""Definitions that follow their files: edits are picked up without a restart, bad files never crash.

A background thread looks for changed files every `check_interval` seconds and
swaps in the new set, so the request path only reads an attribute: it never
stats 3,000 files nor waits on a reload. The thread starts with `watch()`, which
a served app calls before each request (a `flask` command serves none, so it
never pays for one) and the tracker outside an app on its first use. At start, files with problems either
stop the app (`strict`, development and test) or are skipped and reported
(production). A bad edit later keeps the last set in use and is reported
through `problems`, so a typo in YAML cannot take tracking down.
"""

import logging
import os
import threading
import weakref

from .definitions import DefinitionsError, Loaded, definition_files, load, stamps
from .model import Definitions

log = logging.getLogger(__name__)


def _fingerprint(folder: str | os.PathLike[str]) -> tuple[tuple[str, int, int], ...]:
    return stamps(definition_files(folder))


class LiveDefinitions:
    def __init__(
        self,
        folder: str | os.PathLike[str],
        check_interval: float = 1.0,
        strict: bool = True,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        self.folder = folder
        self.cache = cache  # a file keeping parsed files between loads and processes (parse_cache.py)
        self.check_interval = check_interval
        self.error: Exception | None = None  # the last reload's failure, while the set before it stays in use
        self._lock = threading.Lock()
        loaded = load(folder, cache)
        self._fingerprint = loaded.stamps  # the files as read: no second walk of the tree
        if loaded.problems and strict:
            raise DefinitionsError(loaded.problems)
        for problem in loaded.problems:
            log.error("Skipped invalid internal events definition: %s", problem)
        self.latest: Loaded = loaded  # what the files said when last read, used or not: problems and lint warnings
        self.skipped: tuple[object, ...] = loaded.problems  # what production started without
        self._current: Definitions = loaded.definitions
        self._watcher_pid: int | None = None
        self._watch_lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def problems(self) -> tuple[object, ...]:
        """Every problem an operator should see: files skipped at start, or a reload that failed."""
        if self.error is not None:
            return tuple(getattr(self.error, "problems", [self.error]))
        return self.skipped

    def current(self) -> Definitions:
        return self._current

    def stop(self) -> None:
        self._stopped.set()

    def watch(self) -> None:
        """Check for edits in the background from now on, once per process (a forked worker gets its own)."""
        if self._watcher_pid == os.getpid():
            return
        with self._watch_lock:  # requests in several threads: one watcher
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
        if self.check_interval > 0:
            reference = weakref.ref(self)
            thread = threading.Thread(
                target=_watch,
                args=(reference, self.check_interval, self._stopped),
                name="internal-events-definitions",
                daemon=True,
            )
            thread.start()

    def reload_if_changed(self) -> bool:
        """Reload when the files changed; return True when a new valid set is in use."""
        with self._lock:
            fingerprint = _fingerprint(self.folder)
            if fingerprint == self._fingerprint:
                return False
            self._fingerprint = fingerprint
            try:
                loaded = self.latest = load(self.folder, self.cache)
                if loaded.problems:
                    raise DefinitionsError(loaded.problems)
            except DefinitionsError as error:
                self.error = error
                log.error("Keeping the last valid internal events definitions: %s", error)
                return False
            except Exception as error:  # a loader bug must not take tracking down with it
                self.error = error
                log.exception("Keeping the last valid internal events definitions: loading failed")
                return False
            self._current = loaded.definitions
            self.error, self.skipped = None, ()
            log.info("Reloaded internal events definitions from %s", self.folder)
            return True


def _watch(reference: weakref.ref[LiveDefinitions], interval: float, stopped: threading.Event) -> None:
    """Check for edits until stopped or until the definitions are gone (a test's app, garbage collected)."""
    while not stopped.wait(interval):
        live = reference()
        if live is None:
            return
        try:
            live.reload_if_changed()
        except Exception:  # a vanished folder, a permission error: try again next time
            log.exception("Could not check the internal events definitions for changes")
        del live
