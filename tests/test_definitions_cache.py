"""The parsed-definitions cache: served by content, never over the files; a bad cache file is rebuilt; processes share it."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from webapp.internal_events.assembly import PARSE_CACHE_FILE
from webapp.internal_events.definitions import load

GITLAB = Path(__file__).parent / "fixtures" / "gitlab"
PATTERNS = Path(__file__).parent / "fixtures" / "gitlab_patterns"
EVENT = "events/pull_package.yml"


@pytest.fixture
def folder(tmp_path):
    copy = tmp_path / "defs"
    shutil.copytree(GITLAB, copy)
    return copy


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "instance" / "parsed.json"


def same(first, second):
    assert first.definitions == second.definitions
    assert first.problems == second.problems
    assert first.warnings == second.warnings


def description(loaded, event="pull_package"):
    return loaded.definitions.events[event].description


def cached_documents(cache):
    return json.loads(cache.read_text())["documents"]


def test_a_cached_load_gives_what_the_files_say(folder, cache):
    fresh = load(folder)
    same(load(folder, cache), fresh)  # parses, then keeps
    assert len(cached_documents(cache)) == len(list(folder.rglob("*.yml")))
    same(load(folder, cache), fresh)  # from the cache


def test_the_gitlab_patterns_load_from_the_cache_with_zero_problems(cache):
    load(PATTERNS, cache)
    cached = load(PATTERNS, cache)
    assert cached.problems == ()
    same(cached, load(PATTERNS))


def test_documents_are_served_from_the_cache_by_content(folder, cache):
    """The cache is really used: a document planted under a file's digest is what the load returns."""
    load(folder, cache)
    kept = json.loads(cache.read_text())
    for document in kept["documents"].values():
        if document.get("action") == "pull_package":
            document["description"] = "from the cache"
    cache.write_text(json.dumps(kept))
    assert description(load(folder, cache)) == "from the cache"


def test_a_changed_file_is_read_again_even_with_the_same_size_and_time(folder, cache):
    path = folder / EVENT
    load(folder, cache)
    before = path.stat()
    text = path.read_text()
    old = description(load(folder))
    new = old[:-1] + ("X" if old[-1] != "X" else "Y")  # the same length
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert description(load(folder, cache)) == new
    path.write_text(text)  # and back: the earlier version is still kept
    assert description(load(folder, cache)) == old


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"format": "an older one", "documents": {}}',
        b'{"format": null, "documents": []}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["empty", "truncated", "not-utf8", "a-list", "old-format", "wrong-shape", "nested-deeply"],
)
def test_a_corrupt_cache_is_ignored_and_written_again(folder, cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    same(load(folder, cache), load(folder))
    assert len(cached_documents(cache)) == len(list(folder.rglob("*.yml")))


BROKEN = {
    "not YAML": "action: pull_package\ndescription: [unclosed\n",
    "not UTF-8": b"\xff\xfe not utf-8",
    "not a mapping": "- a list\n",
    "a date JSON cannot carry": "action: pull_package\ndescription: d\nmilestone: 2021-01-01\n",
}


@pytest.mark.parametrize("content", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_is_reported_exactly_as_without_the_cache(folder, cache, content):
    path = folder / EVENT
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    without = load(folder)
    assert without.problems
    same(load(folder, cache), without)
    same(load(folder, cache), without)


def test_an_unwritable_cache_only_costs_time(folder, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    same(load(folder, blocker / "parsed.json"), load(folder))
    assert "Could not keep parsed definitions" in caplog.text


def test_folders_sharing_a_cache_do_not_evict_each_other(folder, cache):
    load(folder, cache)
    load(PATTERNS, cache)
    both = cached_documents(cache)
    load(folder, cache)
    assert cached_documents(cache) == both  # nothing new parsed: not even written


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from webapp.internal_events.definitions import load

    folder, cache, name, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    path = folder / "events" / "pull_package.yml"
    text = path.read_text()
    for round in range(rounds):
        wanted = f"{name} round {round}"
        path.write_text(text.replace("description:", f"description: {wanted} #", 1))
        loaded = load(folder, cache)
        assert loaded.problems == (), loaded.problems
        assert loaded.definitions.events["pull_package"].description == wanted
    """
)


@pytest.mark.integration  # several Python processes at once
def test_processes_writing_the_cache_at_once_leave_it_whole(folder, cache, tmp_path):
    """Each process edits its own copy and loads it every round, so every load parses and writes the shared cache."""
    processes = []
    for name in "abcd":
        copy = tmp_path / name
        shutil.copytree(folder, copy)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(copy), str(cache), name, "15"],
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    kept = json.loads(cache.read_text())
    assert len(kept["documents"]) > len(list(folder.rglob("*.yml")))
    assert [path.name for path in cache.parent.iterdir()] == [cache.name]  # no temporary file left behind
    same(load(folder, cache), load(folder))


def test_the_app_keeps_its_parsed_files_in_the_instance_folder(make_events, tmp_path, definitions_dir):
    first = make_events()
    kept = tmp_path / "instance" / PARSE_CACHE_FILE
    assert len(cached_documents(kept)) == len(list(definitions_dir.rglob("*.yml")))
    assert make_events().definitions == first.definitions
