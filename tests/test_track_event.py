"""track_event against a real Redis: what it counts, over which days, and how it refuses mistakes."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events import (
    InvalidIdentifierError,
    InvalidPropertyError,
    MissingIdentifierError,
    UnknownEventError,
    track_event,
)
from webapp.internal_events.journal import Journal, progress_file, unfinished
from webapp.internal_events.model import Rule, TrackedEvent
from webapp.internal_events.service_ping import metric_values
from webapp.internal_events.windows import day_number, today
from webapp.internal_events.writer import BackgroundWriter

HLL = "redis_hll_counters."


def values(events):
    return metric_values(events)


def test_one_call_counts_every_metric_of_the_event(events):
    user = SimpleNamespace(id=7)
    namespace = SimpleNamespace(id=20)
    project = SimpleNamespace(id=300, namespace=namespace)
    assert events.track("project_created", user=user, project=project) is True
    events.track("project_created", user_id=7, namespace_id=20, project_id=301)
    events.track("project_created", user_id=8, namespace_id=20, project_id=302)
    v = values(events)
    assert v[HLL + "count_distinct_user_id_from_project_created_weekly"] == 2
    assert v[HLL + "count_distinct_user_id_from_project_created_monthly"] == 2
    assert v["counts.count_total_project_created_weekly"] == 3
    assert v["counts.count_total_project_created_monthly"] == 3
    assert v["counts.count_total_project_created"] == 3
    assert v["counts.count_total_project_starred"] == 0


def test_project_without_namespace_uses_the_projects_namespace(events):
    events.track("group_member_invited", user_id=1, project=SimpleNamespace(id=5, namespace=SimpleNamespace(id=41)))
    events.track("group_member_invited", user_id=1, project=SimpleNamespace(id=6, namespace_id=42))
    events.track("group_member_invited", user_id=1, namespace_id=42)
    assert values(events)[HLL + "count_distinct_namespace_id_from_group_member_invited_weekly"] == 2


def test_filtered_metric_counts_only_matching_events(events):
    for label in ("ssh", "https", "ssh"):
        events.track(
            "clone_button_clicked", user_id=1, project_id=2, namespace_id=3, additional_properties={"label": label}
        )
    v = values(events)
    assert v["counts.count_total_clone_button_clicked_with_ssh"] == 2
    assert v["counts.count_total_clone_button_clicked"] == 3


@pytest.mark.parametrize(
    "days_ago, in_7d, in_28d",
    [
        (0, True, True),
        (6, True, True),
        (7, False, True),
        (8, False, True),
        (27, False, True),
        (28, False, False),
        (29, False, False),
    ],
)
def test_windows_are_rolling_utc_days_including_today(events, days_ago, in_7d, in_28d):
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    with time_machine.travel(now - timedelta(days=days_ago), tick=False):
        events.track("project_starred", user_id=1, namespace_id=2, project_id=3)
    with time_machine.travel(now, tick=False):
        v = values(events)
    assert v["counts.count_total_project_starred_weekly"] == int(in_7d)
    assert v["counts.count_total_project_starred_monthly"] == int(in_28d)
    assert v["counts.count_total_project_starred"] == 1


def test_day_boundary_is_midnight_utc(events):
    with time_machine.travel(datetime(2026, 3, 8, 23, 59, 59, tzinfo=UTC), tick=False):
        events.track("project_starred", user_id=1, namespace_id=2, project_id=3)  # 7 days before the 15th
    with time_machine.travel(datetime(2026, 3, 15, 0, 0, 1, tzinfo=UTC), tick=False):
        assert values(events)["counts.count_total_project_starred_weekly"] == 0


def test_weekly_chart_values_cover_twelve_rolling_weeks(events):
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    for weeks_ago, count in ((0, 3), (1, 1), (11, 2), (12, 5)):
        with time_machine.travel(now - timedelta(weeks=weeks_ago), tick=False):
            for _ in range(count):
                events.track("project_starred", user_id=1, namespace_id=2, project_id=3)
    metric = events.definitions.metric("counts.count_total_project_starred_weekly")
    with time_machine.travel(now, tick=False):
        weekly = events.counters.weekly_values(metric, today())
    assert len(weekly) == 12
    assert weekly[-1] == (now.date(), 3)
    assert [v for _, v in weekly] == [2] + [0] * 9 + [1, 3]


def test_every_event_keeps_its_own_totals_without_metrics(events, definitions_dir, redis_client, key_prefix):
    (definitions_dir / "events" / "lonely_event.yml").write_text("description: no metric yet\naction: lonely_event\n")
    events.live_definitions.reload_if_changed()
    events.track("lonely_event")
    assert redis_client.get(f"{key_prefix}{{lonely_event}}:t:all") == b"1"
    assert events.counters.day_total(Rule("lonely_event"), today()) == 1


def test_unique_by_property_is_the_same_in_every_process(events):
    events.track("help_link_clicked", user_id=1, additional_properties={"label": "docs/ci"})
    script = textwrap.dedent("""
        from webapp.internal_events import track_event
        track_event("help_link_clicked", user_id=2, additional_properties={"label": "docs/ci"})
        track_event("help_link_clicked", user_id=2, additional_properties={"label": "docs/api"})
    """)
    run_script(script, events)
    assert values(events)[HLL + "count_distinct_label_from_help_link_clicked_weekly"] == 2


def run_script(script, events, **env):
    """Run Python in a fresh process configured only by the environment, like a background worker."""
    environment = {
        **os.environ,
        "WEBAPP_ENV": "test",
        "REDIS_URL": events.counters.redis.connection_pool.connection_kwargs.get("path")
        and f"unix://{events.counters.redis.connection_pool.connection_kwargs['path']}"
        or "redis://{host}:{port}/{db}".format(**events.counters.redis.connection_pool.connection_kwargs),
        "INTERNAL_EVENTS_KEY_PREFIX": events.counters.keys.prefix,
        "INTERNAL_EVENTS_DEFINITIONS": str(events.live_definitions.folder),
        **env,
    }
    environment.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)
    return subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_track_event_works_in_a_plain_script(events):
    run_script(
        'from webapp.internal_events import track_event\nassert track_event("admin_area_viewed", user_id=99)\n', events
    )
    assert values(events)[HLL + "count_distinct_user_id_from_admin_area_viewed_weekly"] == 1


def test_track_event_uses_the_app_in_a_request_and_in_an_app_context(app):
    with app.test_request_context("/"):
        assert track_event("admin_area_viewed", user_id=1)
    with app.app_context():
        assert track_event("admin_area_viewed", user_id=2)
        counted = metric_values(app.extensions["internal_events"])
    assert counted[HLL + "count_distinct_user_id_from_admin_area_viewed_weekly"] == 2


@pytest.mark.parametrize(
    "call, error, message",
    [
        (dict(event_name="no_such_event", user_id=1), UnknownEventError, "Unknown event: 'no_such_event'"),
        (
            dict(event_name="project_viewed", user_id=1, namespace_id=2),
            MissingIdentifierError,
            "Event 'project_viewed' is missing data its metrics count: redis_hll_counters."
            "count_distinct_project_id_from_project_viewed_weekly, redis_hll_counters."
            "count_distinct_project_id_from_project_viewed_monthly need(s) project: pass project= or project_id=",
        ),
        (
            dict(event_name="clone_button_clicked", user_id=1, project_id=2, additional_properties={"label": 5}),
            InvalidPropertyError,
            "Additional property 'label' of event 'clone_button_clicked' must be a string, got 5",
        ),
        (
            dict(event_name="clone_button_clicked", user_id=1, project_id=2, additional_properties={"value": True}),
            InvalidPropertyError,
            "must be a number, got True",
        ),
        (
            dict(event_name="clone_button_clicked", user_id=1, project_id=2, additional_properties={"colour": "red"}),
            InvalidPropertyError,
            "Unknown additional property 'colour' for event 'clone_button_clicked'",
        ),
        (
            dict(
                event_name="dashboard_chart_viewed",
                user_id=1,
                project_id=2,
                additional_properties={"chart_weeks": ["12"]},
            ),
            InvalidPropertyError,
            "'chart_weeks' of event 'dashboard_chart_viewed' must be a string or a number",
        ),
        (
            dict(event_name="admin_area_viewed", user_id="1"),
            InvalidIdentifierError,
            "user_id must be an integer from 0 to 2147483647, got '1'",
        ),
        (
            dict(event_name="admin_area_viewed", user=SimpleNamespace(id=1), user_id=2),
            InvalidIdentifierError,
            "user and user_id disagree",
        ),
    ],
)
def test_mistakes_raise_in_test_and_development_and_count_nothing(events, call, error, message):
    name = call.pop("event_name")
    with pytest.raises(error) as caught:
        events.track(name, **call)
    assert message in str(caught.value)
    assert not any(values(events).values())


def test_custom_properties_declared_in_yaml_are_accepted(events):
    assert events.track(
        "dashboard_chart_viewed",
        user_id=1,
        project_id=2,
        namespace_id=3,
        additional_properties={"label": "activity", "chart_weeks": 12},
    )


def test_production_logs_and_counts_mistakes_without_raising(make_events, caplog):
    events = make_events(WEBAPP_ENV="production")
    assert events.track("no_such_event", user_id=1) is False
    # Missing project: the unique-by-project metric is skipped, everything else still counts.
    assert events.track("project_viewed", user_id=1, namespace_id=2) is True
    # An undeclared property is dropped, the event is still counted.
    assert events.track("project_starred", user_id=1, project_id=2, additional_properties={"colour": "red"})
    v = values(events)
    assert v[HLL + "count_distinct_user_id_from_project_viewed_weekly"] == 1
    assert v[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 0
    assert v["counts.count_total_project_starred"] == 1
    assert events.errors == {"unknown_event": 1, "missing_identifier": 1, "invalid_property": 1}
    assert "Unknown event: 'no_such_event'" in caplog.text
    assert "Unknown additional property 'colour'" in caplog.text


def test_track_event_is_one_round_trip(events, round_trips):
    events.track("project_viewed", user_id=0, project_id=1, namespace_id=1)  # loads the script once
    assert events.daily_pass.wait(30)  # the first write of a day started the daily pass, in a thread of its own
    round_trips.clear()
    events.track("project_viewed", user_id=1, project_id=2, namespace_id=1)
    assert len(round_trips) == 1


def test_track_events_writes_a_batch_in_one_round_trip(events, round_trips):
    events.track("project_viewed", user_id=0, project_id=1, namespace_id=1)
    assert events.flush() and events.daily_pass.wait(30)
    round_trips.clear()
    outcomes = events.track_many(
        [{"event": "project_viewed", "user_id": u, "project_id": 100 + u, "namespace_id": 1} for u in range(40)]
        + [{"event": "admin_area_viewed", "user_id": u} for u in range(10)]
    )
    assert outcomes == [None] * 50
    assert len(round_trips) == 1
    v = values(events)
    assert v[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 41
    assert v[HLL + "count_distinct_user_id_from_admin_area_viewed_weekly"] == 10


def test_track_events_in_production_records_the_valid_ones(make_events):
    events = make_events(WEBAPP_ENV="production")
    outcomes = events.track_many(
        [
            {"event": "project_starred", "user_id": 1, "project_id": 2},
            {"event": "nope", "user_id": 1},
        ]
    )
    assert outcomes[0] is None and isinstance(outcomes[1], UnknownEventError)
    assert values(events)["counts.count_total_project_starred"] == 1


def test_track_events_in_test_raises_before_recording_anything(events):
    with pytest.raises(UnknownEventError):
        events.track_many([{"event": "project_starred", "user_id": 1, "project_id": 2}, {"event": "nope"}])
    assert values(events)["counts.count_total_project_starred"] == 0


def test_ten_thousand_users_count_within_two_percent(events):
    batch = 500
    for start in range(0, 10_000, batch):
        events.track_many([{"event": "admin_area_viewed", "user_id": u} for u in range(start, start + batch)])
    v = values(events)
    assert abs(v[HLL + "count_distinct_user_id_from_admin_area_viewed_weekly"] - 10_000) <= 200
    assert abs(v[HLL + "count_distinct_user_id_from_admin_area_viewed_monthly"] - 10_000) <= 200


def test_totals_are_exact_at_volume(events):
    for _ in range(20):
        events.track_many(
            [
                {"event": "help_link_clicked", "user_id": u % 7, "additional_properties": {"label": "docs"}}
                for u in range(500)
            ]
        )
    assert values(events)["counts.count_total_help_link_clicked"] == 10_000


def test_edited_definitions_are_picked_up_and_bad_edits_keep_the_last_valid_set(events, definitions_dir):
    (definitions_dir / "events" / "brand_new.yml").write_text("description: new\naction: brand_new\n")
    assert events.live_definitions.reload_if_changed()
    assert events.track("brand_new")
    (definitions_dir / "events" / "broken.yml").write_text("action: [oops\n")
    assert not events.live_definitions.reload_if_changed()
    assert "broken.yml" in str(events.live_definitions.error)
    assert events.track("brand_new"), "the last valid definitions stay in use"


def test_a_server_that_lost_its_scripts_is_reloaded_transparently(events):
    events.track("project_starred", user_id=1, project_id=2)
    events.counters._script_sha = "0" * 40  # as after a Redis restart: the cached script is unknown
    events.track("project_starred", user_id=1, project_id=2)
    assert values(events)["counts.count_total_project_starred"] == 2


def test_a_batch_merges_writes_per_key(events, redis_client, key_prefix):
    write_batch = events.counters.write_batch(events.definitions)
    rules = events.definitions.rules_for("project_starred")
    for user in range(3):
        event = events.prepare("project_starred", user_id=user, project_id=5)
        write_batch.add(rules, event, today())
    ((event_name, keys, args),) = write_batch.script_calls()
    assert event_name == "project_starred"
    assert len(keys) == len(set(keys)) == 2, "the day's total and the all-time total, each once"
    assert args == ["h", day_number(today()), 3, day_number(today()) - 84, "a", 3]


def test_write_behind_is_exact_and_shares_round_trips(make_events, round_trips):
    events = make_events(WEBAPP_ENV="production", INTERNAL_EVENTS_WRITE_BEHIND=True)
    for user in range(2000):
        events.track("project_starred", user_id=user, project_id=1)
    assert events.flush()
    assert len(round_trips) < 2000, "events queued while a write is in flight go out together"
    assert values(events)["counts.count_total_project_starred"] == 2000


def test_a_trickle_of_events_shares_one_write_while_the_writer_lingers(tmp_path):
    """The linger is the writer's own: one that outlasts the test makes the sharing certain, no clock involved."""
    writes = []
    writer = BackgroundWriter(
        lambda events, day, batch, caller_keeps=False: writes.append(list(events)) or True,
        lambda: ("w", 1),
        Journal(tmp_path, "target"),
        linger=3600,
    )
    for user in range(9):
        writer.submit([TrackedEvent("an_event", user_id=user)], today())
    assert writer.flush(timeout=30)
    assert writes == [[TrackedEvent("an_event", user_id=user) for user in range(9)]]


def test_write_behind_splits_calls_into_batches_in_order(tmp_path):
    """Calls larger than a batch are cut where the batch is full; each batch journals the numbers it holds."""
    batches, begun = [], []

    class NotedJournal(Journal):
        def writing(self, writer, number, day, first, last):
            begun.append((first, last))
            super().writing(writer, number, day, first, last)

    writer = BackgroundWriter(
        lambda events, day, batch, caller_keeps=False: batches.append([event.user_id for event in events]) or True,
        lambda: ("w", len(batches) + 1),
        NotedJournal(tmp_path, "target"),
        max_batch=4,
        linger=3600,
    )
    for call in range(3):
        writer.submit([TrackedEvent("an_event", user_id=5 * call + user) for user in range(5)], today())
    assert writer.flush(timeout=30)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]
    assert begun == [(1, 4), (5, 8), (9, 12), (13, 15)]


def test_a_dead_journal_is_read_in_both_of_its_line_forms(tmp_path):
    """Events as rows of field values, and as one object each (journals of earlier versions)."""
    day = today()
    event = TrackedEvent("an_event", user_id=7, project_id=3, properties={"label": "x"}, source="browser")
    journal = Journal(tmp_path, "target")
    journal.accepted(day, [event, event])
    path = next(tmp_path.glob("*.journal"))
    owner = path.name.split("-")[1]
    earlier = {**vars(event), "user_id": 8}
    with path.open("a") as file:
        file.write(f'["E",3,"{day.isoformat()}",[{json.dumps(earlier)}]]\n')
    batches, damaged = unfinished([path, progress_file(tmp_path, journal.family, owner)], owner)
    assert damaged == 0
    assert [events for *_, events in batches] == [[event, event, TrackedEvent(**earlier)]]


def test_flush_does_not_wait_out_the_linger(tmp_path):
    written = []
    writer = BackgroundWriter(
        lambda events, day, batch, caller_keeps=False: written.extend(events) or True,
        lambda: ("w", 1),
        Journal(tmp_path, "target"),
        linger=3600,
    )
    writer.submit([TrackedEvent("an_event")], today())
    assert writer.flush(timeout=30)
    assert written == [TrackedEvent("an_event")]


def test_flush_does_not_wait_out_the_retry_of_a_batch_nothing_could_take(tmp_path):
    """Neither Redis nor the spool took the batch: it waits `retry_after`, which a flush cuts short, no clock involved."""
    attempts = []

    def write(events, day, batch, caller_keeps=False):
        attempts.append(list(events))
        return len(attempts) > 1  # the first attempt finds nothing to keep it

    writer = BackgroundWriter(write, lambda: ("w", 1), Journal(tmp_path, "target"), linger=3600, retry_after=3600)
    writer.submit([TrackedEvent("an_event")], today())
    assert writer.flush(timeout=30)
    assert attempts == [[TrackedEvent("an_event")]] * 2


def test_write_behind_flushes_when_the_process_exits(events):
    run_script(
        "from webapp.internal_events import track_event\n"
        "for user in range(500):\n"
        '    track_event("project_starred", user_id=user, project_id=1)\n',
        events,
        WEBAPP_ENV="production",
        INTERNAL_EVENTS_WRITE_BEHIND="1",
        SECRET_KEY="x",
    )
    assert values(events)["counts.count_total_project_starred"] == 500


def test_real_gitlab_definitions_count_correctly(make_events):
    events = make_events(INTERNAL_EVENTS_DEFINITIONS=str(PROJECT_ROOT / "tests" / "fixtures" / "gitlab"))
    for user in (1, 2, 2):
        events.track("create_commit_note", user_id=user, project_id=10, namespace_id=20)
    pulls = [("rubygems", "guest", 5), ("rubygems", "guest", 2.5), ("rubygems", "user", 1), ("npm", "guest", 4)]
    for user, (label, prop, value) in enumerate(pulls, start=3):
        events.track(
            "pull_package",
            user_id=user,
            project_id=10,
            namespace_id=20,
            additional_properties={"label": label, "property": prop, "value": value, "registry_size": 9},
        )
    v = values(events)
    assert v[HLL + "count_distinct_user_id_from_create_commit_note_weekly"] == 2
    assert v[HLL + "count_distinct_user_id_from_create_commit_note_monthly"] == 2
    assert v["counts.count_total_pull_package"] == 4
    assert v["counts.count_total_pull_package_rubygems"] == 2
    assert v["counts.sum_registry_size_from_pull_package"] == 12.5
    assert v["counts.sum_registry_size_from_pull_package_weekly"] == 12.5
    assert v[HLL + "count_distinct_label_from_pull_package_weekly"] == 2
    # A metric over two events counts the union of their users.
    assert v[HLL + "count_distinct_user_id_from_create_commit_note_and_pull_package_monthly"] == 6
