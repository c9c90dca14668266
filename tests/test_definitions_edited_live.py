"""Definitions edited while the app runs: a bad edit never crashes tracking, keeps the last valid set and is reported."""

import logging
import os
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp import create_app
from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events import MissingIdentifierError, live_definitions
from webapp.internal_events.definitions import Definitions
from webapp.internal_events.live_definitions import LiveDefinitions

METRIC = "metrics/counts_all/count_total_project_created.yml"
EVENT = "events/project_created.yml"


@pytest.fixture
def live_events(make_events):
    return make_events()


def write(path, content, live=None):
    """Write and move the mtime forward, so even a same-size rewrite within one clock tick is noticed.

    With `live`, then do at once what its background check does within seconds.
    """
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    if live is not None:
        live.live_definitions.reload_if_changed()


def track_project_created(events):
    return events.track("project_created", user_id=1, namespace_id=2, project_id=3)


@pytest.mark.parametrize(
    "file, content, reported",
    [
        (EVENT, "action: project_created\ndescription: [unclosed", "is not valid YAML"),
        (EVENT, b"\xff\xfe not utf-8", "cannot be read"),
        (EVENT, "[" * 5000 + "]" * 5000, "exceeded maximum nesting depth"),
        (
            METRIC,
            yaml.safe_dump(
                {
                    "key_path": "counts.x",
                    "description": "d",
                    "time_frame": "7d",
                    "data_source": "internal_events",
                    "status": "active",
                    "events": [{"name": "no_such_event"}],
                }
            ),
            "is not defined in events/",
        ),
        (METRIC, "", "must be a YAML mapping"),
    ],
)
def test_bad_edit_keeps_the_last_valid_set_and_says_why(live_events, definitions_dir, caplog, file, content, reported):
    before = live_events.definitions
    with caplog.at_level(logging.ERROR):
        write(definitions_dir / file, content, live_events)
        assert track_project_created(live_events)
    assert live_events.definitions is before
    assert reported in str(live_events.live_definitions.error)
    assert any("Keeping the last valid" in r.message and reported in r.message for r in caplog.records)


def test_fixing_the_file_clears_the_error_and_takes_the_new_set(live_events, definitions_dir):
    path = definitions_dir / EVENT
    original = path.read_text()
    write(path, "description: [", live_events)
    track_project_created(live_events)
    assert live_events.live_definitions.error is not None

    write(path, original)
    write(
        definitions_dir / "events" / "new_thing_happened.yml",
        "action: new_thing_happened\ndescription: A new event added while running\n",
        live_events,
    )
    assert live_events.track("new_thing_happened")
    assert live_events.live_definitions.error is None


def test_status_command_and_pages_while_definitions_are_broken(config, definitions_dir):
    app = create_app(config)
    write(definitions_dir / EVENT, "description: [", app.extensions["internal_events"])

    assert app.test_client().get("/").status_code == 200
    result = app.test_cli_runner().invoke(args=["internal-events", "status"])
    assert result.exit_code == 1
    assert "project_created.yml" in result.output and "is not valid YAML" in result.output


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def edits(draw):
    """A definitions file after a careless edit: fields replaced, removed or added, or any text at all."""
    file = draw(st.sampled_from([EVENT, METRIC]))
    kind = draw(st.sampled_from(["fields", "text", "bytes"]))
    if kind == "text":
        return file, draw(st.text(max_size=200))
    if kind == "bytes":
        return file, draw(st.binary(max_size=200))
    return file, {
        "fields": draw(st.lists(st.tuples(st.text(max_size=20), json_values | st.just(None)), min_size=1, max_size=4)),
        "remove": draw(st.lists(st.text(max_size=20), max_size=2)),
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=edits())
def test_no_edit_ever_breaks_tracking(live_events, definitions_dir, edit):
    file, change = edit
    path = definitions_dir / file
    original = path.read_text()
    if isinstance(change, dict):
        document = yaml.safe_load(original)
        fields = dict(change["fields"])
        # Edit the real fields most of the time: a random name rarely hits one.
        for name, value in zip(sorted(document), fields.values()):
            document[name] = value
        for name in change["remove"]:
            document.pop(name, None)
        change = yaml.safe_dump(document)
    try:
        write(path, change, live_events)
        definitions = live_events.definitions
        assert isinstance(definitions, Definitions)
        assert "project_viewed" in definitions.events
        assert live_events.track("project_viewed", user_id=1, namespace_id=2, project_id=3)
    finally:
        write(path, original, live_events)
    assert live_events.live_definitions.error is None


def test_edits_are_noticed_in_the_background_and_the_request_path_never_stats(definitions_dir, monkeypatch):
    live = LiveDefinitions(definitions_dir, check_interval=0.05, strict=True)
    try:
        live.watch()
        assert "noticed_later" not in live.current().events
        write(definitions_dir / "events" / "noticed_later.yml", "action: noticed_later\ndescription: new\n")
        deadline = time.monotonic() + 10
        while "noticed_later" not in live.current().events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "noticed_later" in live.current().events
    finally:
        live.stop()

    def no_stat(folder):
        raise AssertionError("the request path looked at the files")

    monkeypatch.setattr(live_definitions, "_fingerprint", no_stat)
    for _ in range(1000):
        assert "noticed_later" in live.current().events


# Prints the process's threads as it exits (daemon threads are still there), after running the code below it.
COMMAND = ["flask", "--app", "webapp", "internal-events", "service-ping"]
THREADS_AT_EXIT = """
import atexit, sys, threading
atexit.register(lambda: print("threads:", *sorted(t.name for t in threading.enumerate()), file=sys.stderr))
"""


@pytest.mark.parametrize(
    "code, watched",
    [
        (f"from flask.cli import main; sys.argv = {COMMAND!r}; main()", False),
        ('from webapp import create_app; assert create_app().test_client().get("/").status_code == 200', True),
    ],
    ids=["flask command", "served request"],
)
def test_only_a_served_app_watches_the_files(code, watched, tmp_path, redis_url, key_prefix):
    """A one-shot `flask` command, in a real process in development (1 s checks), never starts the watcher thread;
    the same app serving a request does, which shows the probe would see it."""
    env = {
        **os.environ,
        "WEBAPP_ENV": "development",
        "INTERNAL_EVENTS_DEFINITIONS": str(PROJECT_ROOT / "definitions"),
        "REDIS_URL": redis_url,
        "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
        "WEBAPP_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", THREADS_AT_EXIT + code],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    threads = next(line for line in result.stderr.splitlines() if line.startswith("threads:")).split()
    assert "MainThread" in threads
    assert ("internal-events-definitions" in threads) is watched, threads


def test_the_start_stamps_the_files_as_a_check_does(definitions_dir, monkeypatch):
    """The start takes each file's stamp as it reads it (no second walk); the first check must agree, not reload."""
    live = LiveDefinitions(definitions_dir, check_interval=0, strict=True)
    loads = []
    monkeypatch.setattr(live_definitions, "load", lambda *args: loads.append(args))
    assert live.latest.stamps == live_definitions._fingerprint(definitions_dir)
    assert len(live.latest.stamps) == len(list(definitions_dir.rglob("*.yml")))
    assert live.reload_if_changed() is False
    assert loads == []


def test_the_ids_an_event_needs_follow_its_metrics_edited_live(make_events, definitions_dir):
    """The ids each event's metrics need are worked out once per set of definitions: a new set asks again."""
    metric = definitions_dir / "metrics/counts_all/count_distinct_project_id_from_project_viewed.yml"
    kept = metric.read_text()
    metric.unlink()
    events = make_events()
    assert events.track("project_viewed", user_id=1, namespace_id=2)
    write(metric, kept, live=events)
    with pytest.raises(MissingIdentifierError, match="need\\(s\\) project"):
        events.track("project_viewed", user_id=1, namespace_id=2)
