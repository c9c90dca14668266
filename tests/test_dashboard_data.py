"""What the dashboard shows, read from the real counters: values per frame, weekly series, search, recent events."""

import hashlib
from datetime import date, datetime, timedelta, timezone

import time_machine

from webapp.dashboard_data import event_rows, matches, metric_rows, recent_event
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.internal_events.service_ping import metric_values
from webapp.weekly_chart import HEIGHT, WIDTH, bars

NOW = datetime(2026, 3, 15, 12, tzinfo=timezone.utc)


def track_days_ago(events, days, name="project_starred", **ids):
    with time_machine.travel(NOW - timedelta(days=days), tick=False):
        events.track(name, **({"user_id": 1, "namespace_id": 2, "project_id": 3} | ids))


def by_key(rows):
    return {row.key_path: row for row in rows}


def test_metric_rows_group_a_file_s_time_frames_and_agree_with_the_service_ping(events):
    track_days_ago(events, 0, user_id=1)
    track_days_ago(events, 10, user_id=2)
    track_days_ago(events, 40, user_id=3)
    rows = by_key(metric_rows(events, NOW.date()))

    total = rows["counts.count_total_project_starred"]
    assert total.values == {"7d": 1, "28d": 2, "all": 3}
    assert total.reported == {
        "7d": "counts.count_total_project_starred_weekly",
        "28d": "counts.count_total_project_starred_monthly",
        "all": "counts.count_total_project_starred",
    }
    assert total.path == "definitions/metrics/counts_all/count_total_project_starred.yml"
    assert (total.kind, total.status, total.events) == ("total", "active", ("project_starred",))
    # The last chart week is the 7d frame; ten and forty days ago fall two and six weeks back.
    assert [value for _, value in total.weeks] == [0] * 6 + [1, 0, 0, 0, 1, 1]
    assert total.weeks[-1][0] == NOW.date()

    with time_machine.travel(NOW, tick=False):
        ping = metric_values(events)
    for row in rows.values():
        for frame, key_path in row.reported.items():
            assert ping[key_path] == row.values[frame]


def test_unique_metrics_count_distinct_ids(events):
    for user in (1, 1, 2):
        track_days_ago(events, 0, name="project_created", user_id=user)
    row = by_key(metric_rows(events, NOW.date()))["redis_hll_counters.count_distinct_user_id_from_project_created"]
    assert row.values == {"7d": 2, "28d": 2}
    assert row.kind == "unique"
    assert row.weeks[-1][1] == 2


def test_event_rows_count_every_event_and_name_its_metrics(events):
    track_days_ago(events, 0, name="admin_area_viewed")
    track_days_ago(events, 20, name="admin_area_viewed")
    metrics = metric_rows(events, NOW.date())
    rows = {row.name: row for row in event_rows(events, NOW.date(), metrics)}
    assert set(rows) == set(events.definitions.events)
    assert rows["admin_area_viewed"].values == {"7d": 1, "28d": 2, "all": 2}
    assert rows["admin_area_viewed"].metrics == ("redis_hll_counters.count_distinct_user_id_from_admin_area_viewed",)
    assert rows["project_viewed"].values == {"7d": 0, "28d": 0, "all": 0}
    assert rows["clone_button_clicked"].metrics == (
        "counts.count_total_clone_button_clicked",
        "counts.count_total_clone_button_clicked_with_ssh",
        "redis_hll_counters.count_distinct_user_id_from_clone_button_clicked",
    )


def test_the_whole_dashboard_and_the_service_ping_read_in_a_few_round_trips(events, round_trips):
    track_days_ago(events, 0)
    metric_rows(events, NOW.date())  # connected, the chart script loaded
    round_trips.clear()
    rows = metric_rows(events, NOW.date())
    event_rows(events, NOW.date(), rows)
    assert len(round_trips) == 3, "metric values, weekly series, event totals"
    round_trips.clear()
    metric_values(events, NOW.date())
    assert len(round_trips) == 1


def test_search_matches_every_word_anywhere_in_a_row(events):
    metrics = metric_rows(events, NOW.date())
    found = [row.key_path for row in metrics if matches(row, "CLONE ssh")]
    assert found == ["counts.count_total_clone_button_clicked_with_ssh"]
    assert [row.key_path for row in metrics if matches(row, "monthly clone")] == [
        "counts.count_total_clone_button_clicked",
        "counts.count_total_clone_button_clicked_with_ssh",
        "redis_hll_counters.count_distinct_user_id_from_clone_button_clicked",
    ]
    assert all(matches(row, "  ") for row in metrics)
    events_found = [r.name for r in event_rows(events, NOW.date(), metrics) if matches(r, "administrator")]
    assert events_found == ["admin_area_viewed"]


def test_recent_event_reads_the_standard_context():
    user_hash = hashlib.sha256(b"7").hexdigest()
    record = {
        "action": "help_link_clicked",
        "label": "projects",
        "created_at_ms": int(NOW.timestamp() * 1000),
        "received_at": "later",
        "contexts": [
            {"schema": "iglu:other/thing/jsonschema/1-0-0", "data": {"user_id": "nope"}},
            {"schema": STANDARD_CONTEXT, "data": {"user_id": user_hash, "namespace_id": 4, "project_id": None,
                                                   "source": "browser"}},
        ],
    }
    assert recent_event(record, {user_hash: "alice"}) == {
        "time": "2026-03-15T12:00:00Z", "event": "help_link_clicked", "user": "alice", "namespace_id": 4,
        "project_id": None, "source": "browser", "label": "projects", "property": None, "value": None,
    }
    assert recent_event(record)["user"] == user_hash[:12]
    assert recent_event({"action": "x", "received_at": "2026-03-15T12:00:00.000+00:00"}) == {
        "time": "2026-03-15T12:00:00.000+00:00", "event": "x", "user": None, "namespace_id": None,
        "project_id": None, "source": None, "label": None, "property": None, "value": None,
    }


def test_bars_scale_to_the_busiest_week_and_show_any_count():
    weeks = [(date(2026, 1, 7), 0), (date(2026, 1, 14), 1), (date(2026, 1, 21), 200)]
    empty, tiny, busiest = bars(weeks)
    assert busiest.height == HEIGHT and busiest.y == 0
    assert tiny.height == 1 and tiny.y == HEIGHT - 1
    assert empty.height == 0 and empty.y == HEIGHT
    assert [b.x for b in (empty, tiny, busiest)] == [0, WIDTH / 3, 2 * WIDTH / 3]
    assert busiest.x + busiest.width < WIDTH
    assert busiest.week_ending == "2026-01-21" and busiest.value == 200
    assert [b.height for b in bars([(date(2026, 1, 7), 0)] * 12)] == [0] * 12
    assert bars([]) == []
