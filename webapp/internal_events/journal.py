"""A process's append-only journal of accepted events: what makes write-behind survive the process's death.

Each accepted call is one `write()` to a file opened with O_APPEND before the
call returns. Once `write()` has returned the kernel owns the bytes: they reach
the disk even if the process is killed the next instant (SIGKILL, os._exit, a
segfault). Only a power cut or a kernel crash can lose what the kernel has not
written back yet (no fsync: see the README's reliability section). The same
trade Vector's disk buffers and Fluent Bit's filesystem storage make by default.

Three kinds of line, one JSON array each:
  ["E", first, day, [field, ...], [[value, ...], ...]]  events accepted, numbered first, first + 1, ...,
                                      each as its values of TrackedEvent's fields named once a line
  ["B", writer, number, day, first, last]  events first..last are about to be written as that batch
  ["D", last]                         every event up to `last` is in Redis or in the spool
A file whose events are all done is emptied.

On a full disk a "B" or "D" line may not fit where the "E" lines before it
did. What it says then goes to the journal's progress file instead: one
record, overwritten in place in bytes written when the journal was opened, so
a full disk cannot refuse it. Without it, a batch Redis had applied would be
taken over as never begun, under another writer, and counted twice.

A live process holds a POSIX lock on each of its files. A file nobody holds
belongs to a dead process: `unfinished` reads what it had not finished, and
the spool takes it over (delivery.py). Files are cut into segments of
SEGMENT_BYTES; a segment whose events are all done is deleted.
"""

import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import fields
from datetime import date
from operator import attrgetter
from pathlib import Path

from .model import TrackedEvent

log = logging.getLogger(__name__)

SEGMENT_BYTES = 4 * 1024 * 1024
SUFFIX = ".journal"
PROGRESS_SUFFIX = ".progress"
PROGRESS_BYTES = 512  # room for a record with a long writer name
_LIVE_OWNERS: dict[int, set[object]] = {}  # pid -> owners of the journals open in that process
_compact = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: json.dumps with options builds one a call
# An event as the tuple of its fields' values: half the time of encoding each event's dict (its names again
# and again), a third of the bytes.
_FIELDS = tuple(field.name for field in fields(TrackedEvent))
_FIELD_NAMES = _compact(_FIELDS)
_values = attrgetter(*_FIELDS)


class Journal:
    """The journal of this process for one target (a Redis and key prefix); opened on first use, again after fork."""

    def __init__(self, folder, target):
        self.folder = Path(folder)
        self.family = _family(target)
        self._lock = threading.Lock()
        self._pid = None

    # -- the writing process --------------------------------------------------------------------

    def accepted(self, day, events):
        """Journal accepted events; the number of the first. Raises OSError when the file cannot take them."""
        rows = _compact(list(map(_values, events)))
        with self._lock:
            self._open_in_this_process()
            if self._size > SEGMENT_BYTES:
                self._rotate()
            first = self._next
            self._append(f'["E",{first},"{day.isoformat()}",{_FIELD_NAMES},{rows}]\n')
            self._next += len(events)
            return first

    def writing(self, writer, number, day, first, last):
        """Note that events first..last are about to be written as batch `number` of `writer`.

        Raises OSError when neither the file nor the progress file took it: the batch must not be written then.
        """
        begun = [writer, number, day.isoformat(), first, last]
        with self._lock:
            try:
                self._append(_line(["B", *begun]))
            except OSError:
                self._progress(begun=begun)

    def done(self, last):
        """Events up to `last` are stored elsewhere. When that is all of them the journal is emptied (which
        a full disk allows too); else it is noted, and segments holding nothing else are deleted."""
        with self._lock:
            if last == self._next - 1:
                os.ftruncate(self._fd, 0)
                self._size = 0
            else:
                try:
                    self._append(_line(["D", last]))
                except OSError:
                    self._progress(done=last)
            while self._sealed and self._sealed[0][1] <= last:
                path, _, fd = self._sealed.pop(0)
                path.unlink(missing_ok=True)  # before closing: the lock keeps other processes off it
                os.close(fd)

    def orphans(self):
        """(owner, [segment paths..., progress file]) of journals of this target whose processes are gone."""
        if not self.folder.is_dir():
            return
        yield from _orphans(self.folder, self.family, _LIVE_OWNERS.get(os.getpid(), set()))

    def finish(self):
        """At a clean exit with every event done: delete this process's journal."""
        with self._lock:
            if self._pid != os.getpid():
                return
            for path, _, fd in [
                *self._sealed,
                (self._path, None, self._fd),
                (self._progress_path, None, self._progress_fd),
            ]:
                path.unlink(missing_ok=True)
                os.close(fd)
            _LIVE_OWNERS.get(self._pid, set()).discard(self._owner)
            self._pid = None

    # -- helpers -------------------------------------------------------------------------------

    def _open_in_this_process(self):
        if self._pid == os.getpid():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._owner, self._segment, self._sealed, self._next = secrets.token_hex(8), 0, [], 1
        self._fd = None
        self._progress_record = {"done": 0, "begun": None}
        live = _LIVE_OWNERS.setdefault(os.getpid(), set())
        live.add(self._owner)  # before the file exists: another thread's takeover must never touch it
        self._progress_path = progress_file(self.folder, self.family, self._owner)
        self._progress_fd = None
        try:
            self._progress_fd = os.open(self._progress_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if os.write(self._progress_fd, b" " * PROGRESS_BYTES) != PROGRESS_BYTES:  # its room, taken now
                raise OSError(errno.ENOSPC, f"no room for {self._progress_path}")
            self._rotate()
        except OSError:
            live.discard(self._owner)
            if self._progress_fd is not None:
                os.close(self._progress_fd)
                self._progress_path.unlink(missing_ok=True)
            raise
        self._pid = os.getpid()

    def _rotate(self):
        """Start a new segment; the old one is deleted once its last event is done."""
        self._segment += 1
        path = self.folder / f"{self.family}-{self._owner}-{self._segment:06d}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if self._fd is not None:
            self._sealed.append((self._path, self._next - 1, self._fd))
        self._path, self._fd, self._size = path, fd, 0

    def _progress(self, **changes):
        """Overwrite the progress record in place (see the module's docstring); OSError if even that failed."""
        record = {**self._progress_record, **changes}
        data = _compact(record).encode().ljust(PROGRESS_BYTES)
        if len(data) > PROGRESS_BYTES or os.pwrite(self._progress_fd, data, 0) != PROGRESS_BYTES:
            raise OSError(errno.ENOSPC, f"journal progress {self._progress_path}: record not written")
        self._progress_record = record

    def _append(self, line):
        data = line.encode()
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk took part of it: cut it off, or the next line would join it
            os.ftruncate(self._fd, self._size)
            raise OSError(errno.ENOSPC, f"journal {self._path}: room for {written} of {len(data)} bytes")
        self._size += written


# -- the process taking over ------------------------------------------------------------------


def _orphans(folder, family, skip):
    """(owner, [segment paths..., progress file]) of `family`'s journals whose processes are gone, but those of
    owners in `skip`.

    Yields while holding their locks, so two processes never take over the same journal.
    """
    by_owner = {}
    for path in sorted(Path(folder).glob(f"{family}-*{SUFFIX}")):
        by_owner.setdefault(path.name.split("-")[1], []).append(path)
    for owner, paths in by_owner.items():
        if owner in skip:  # a lock of our own process would not stop us, and closing would release it
            continue
        if _just_created(paths):  # its process may not hold the lock yet
            continue
        held = []
        try:
            for path in paths:
                held.append(os.open(path, os.O_RDWR | os.O_CLOEXEC))
                fcntl.lockf(held[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process is alive, or just finished with it
            for fd in held:
                os.close(fd)
            continue
        try:
            yield owner, [*paths, progress_file(folder, family, owner)]
        finally:
            for fd in held:
                os.close(fd)


def progress_file(folder, family, owner):
    return Path(folder) / f"{family}-{owner}{PROGRESS_SUFFIX}"


def unfinished(paths, owner):
    """The batches a dead journal had not finished, as (writer, number, day, events), and lines it could not read.

    A batch begun ("B", in the file or its progress record) keeps its writer and
    number, so Redis skips it if it was applied; events never begun get a writer
    named after the journal and their first number, the same every time, so
    taking over twice counts them once.
    """
    events, batches, done, damaged = {}, [], 0, 0
    *segments, progress = paths
    try:
        record = json.loads(progress.read_bytes().strip() or "{}")  # blank until first needed
        done = record.get("done", 0)
        if record.get("begun"):
            writer, number, day, first, last = record["begun"]
            batches.append((writer, number, date.fromisoformat(day), first, last))
    except FileNotFoundError:  # a journal of an older version, or one already half removed
        pass
    except (OSError, ValueError, TypeError, AttributeError):
        damaged += 1
    for path in segments:
        for raw in path.read_bytes().splitlines():
            try:
                record = json.loads(raw)
                kind = record[0]
                if kind == "E":
                    if len(record) == 5:
                        _, first, day, names, rows = record
                        items = [dict(zip(names, row, strict=True)) for row in rows]
                    else:  # a line of a version that wrote each event's dict
                        _, first, day, items = record
                    for offset, item in enumerate(items):
                        events[first + offset] = (date.fromisoformat(day), TrackedEvent(**item))
                elif kind == "B":
                    batches.append((record[1], record[2], date.fromisoformat(record[3]), record[4], record[5]))
                elif kind == "D":
                    done = max(done, record[1])
            except (ValueError, TypeError, IndexError, KeyError):
                damaged += 1
    result, begun = [], set()
    for writer, number, day, first, last in sorted(batches, key=lambda batch: batch[3]):  # in the order written
        if last > done:
            seqs = [seq for seq in range(first, last + 1) if seq in events]
            begun.update(seqs)
            result.append((writer, number, day, [events[seq][1] for seq in seqs]))
    loose = [seq for seq in sorted(events) if seq > done and seq not in begun]
    for day in sorted({events[seq][0] for seq in loose}):
        same_day = [seq for seq in loose if events[seq][0] == day]
        result.append((f"journal-{owner}-{same_day[0]}", 1, day, [events[seq][1] for seq in same_day]))
    return [batch for batch in result if batch[3]], damaged


def _just_created(paths):
    """Empty files younger than a minute: between creating a file and locking it a process holds no lock."""
    try:
        stats = [path.stat() for path in paths]
    except FileNotFoundError:
        return True
    return all(stat.st_size == 0 for stat in stats) and time.time() - max(s.st_mtime for s in stats) < 60


def _family(target):
    """Journals of apps writing to different Redis servers or prefixes share a folder without mixing."""
    return hashlib.blake2b(target.encode(), digest_size=6).hexdigest()


def _line(record):
    return _compact(record) + "\n"
