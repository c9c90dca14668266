"""What the dashboard shows, read from the real counters: values per frame, weekly series, search, recent events."""

import hashlib
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from webapp.dashboard_data import (
    OverviewMemory,
    catalogue,
    delivery,
    facet_options,
    figures,
    overview,
    page_of,
    recent_event,
    select,
    sort_key,
    weekly_series,
)
from webapp.internal_events import counters
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.internal_events.model import Rule
from webapp.internal_events.service_ping import metric_values
from webapp.internal_events.status import status
from webapp.internal_events.windows import day_number
from webapp.time_chart import layout, nice_ceiling, short_number
from webapp.weekly_chart import HEIGHT, WIDTH, bars

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


@pytest.fixture
def on_the_day():
    """The dashboard reads as of today: complete frames come from the counts kept on earlier days."""
    with time_machine.travel(NOW, tick=False):
        yield


def track_days_ago(events, days, name="project_starred", **ids):
    with time_machine.travel(NOW - timedelta(days=days), tick=False):
        events.track(name, **({"user_id": 1, "namespace_id": 2, "project_id": 3} | ids))
        assert events.daily_pass.wait(30)


def live_through(events, tracked):
    """Days from the oldest in `tracked` ({days ago: [(event, user)]}) to today, each with its events and its
    daily pass, as a running install lives them."""
    for days in range(max(tracked), -1, -1):
        day = NOW - timedelta(days=days)
        with time_machine.travel(day, tick=False):
            for name, user in tracked.get(days, []):
                events.track(name, user_id=user, namespace_id=2, project_id=3)
            events.daily_pass.run(events.definitions, day.date())  # no write that day: the midnight thread's run
            assert events.daily_pass.wait(30)


def entry(metrics, key_path):
    return next(m for m in metrics if m.key_path == key_path)


def test_metric_figures_group_a_file_s_time_frames_and_agree_with_the_service_ping(events):
    track_days_ago(events, 0, user_id=1)
    track_days_ago(events, 10, user_id=2)
    track_days_ago(events, 40, user_id=3)
    metrics, _ = catalogue(events.definitions)
    total = entry(metrics, "counts.count_total_project_starred")
    assert total.reported == {
        "7d": "counts.count_total_project_starred_weekly",
        "28d": "counts.count_total_project_starred_monthly",
        "all": "counts.count_total_project_starred",
    }
    assert total.path == "definitions/metrics/counts_all/count_total_project_starred.yml"
    assert (total.kind, total.status, total.event_names) == ("total", "active", ("project_starred",))
    assert figures(events.counters, [total], NOW.date()) == [
        {"values": {"7d": 1, "28d": 2, "all": 3}, "change": {"7d": 1 - 1, "28d": 2 - 1}}
    ]
    # The last chart week is the 7d frame; ten and forty days ago fall two and six weeks back.
    weeks = weekly_series(events.counters, total, NOW.date())
    assert [value for _, value in weeks] == [0] * 6 + [1, 0, 0, 0, 1, 1]
    assert weeks[-1][0] == NOW.date()

    with time_machine.travel(NOW, tick=False):
        ping = metric_values(events)
    for metric, figure in zip(metrics, figures(events.counters, metrics, NOW.date())):
        for frame, key_path in metric.reported.items():
            assert ping[key_path] == figure["values"][frame]


@pytest.mark.usefixtures("on_the_day")
def test_unique_metrics_count_distinct_ids(events):
    for user in (1, 1, 2):
        track_days_ago(events, 0, name="project_created", user_id=user)
    metrics, _ = catalogue(events.definitions)
    unique = entry(metrics, "redis_hll_counters.count_distinct_user_id_from_project_created")
    assert figures(events.counters, [unique], NOW.date())[0]["values"] == {"7d": 2, "28d": 2}
    assert unique.kind == "unique" and unique.events[0].unique == "user.id"  # as the definition spells it


def test_events_count_every_time_and_name_their_metrics(events):
    track_days_ago(events, 0, name="admin_area_viewed")
    track_days_ago(events, 20, name="admin_area_viewed")
    _, entries = catalogue(events.definitions)
    by_name = {e.name: e for e in entries}
    assert set(by_name) == set(events.definitions.events)
    values = figures(events.counters, [by_name["admin_area_viewed"], by_name["project_viewed"]], NOW.date())
    assert [v["values"] for v in values] == [{"7d": 1, "28d": 2, "all": 2}, {"7d": 0, "28d": 0, "all": 0}]
    assert by_name["admin_area_viewed"].metrics == ("redis_hll_counters.count_distinct_user_id_from_admin_area_viewed",)
    assert by_name["clone_button_clicked"].metrics == (
        "counts.count_total_clone_button_clicked",
        "counts.count_total_clone_button_clicked_with_ssh",
        "redis_hll_counters.count_distinct_user_id_from_clone_button_clicked",
    )


@pytest.mark.usefixtures("on_the_day")
def test_the_overview_compares_each_period_with_the_one_before(events):
    created = [("project_created", days + 1) for days in (0, 0, 1, 8, 30)]
    live_through(
        events, {30: [created[4]], 8: [created[3]], 1: [created[2]], 0: [*created[:2], ("admin_area_viewed", 50)]}
    )
    view = overview(events.counters, events.definitions, NOW.date(), "7d", OverviewMemory())
    got = {f.label: (f.value, f.previous) for f in view["figures"]}
    assert got == {
        "Events today": (3, 1),
        "Events, 7 days": (4, 1),
        "Events, 28 days": (5, 1),
        "Active users, 7 days": (3, 1),
        "Active users, 28 days": (4, 1),
    }
    assert [v for _, v in view["points"]] == [0, 0, 0, 0, 0, 1, 3]
    assert [(f.label, f.value, f.change) for f in view["top"]] == [
        ("project_created", 3, 2),
        ("admin_area_viewed", 1, 1),
    ]
    weekly = overview(events.counters, events.definitions, NOW.date(), "12w", OverviewMemory())
    assert [v for _, v in weekly["points"]][-2:] == [1, 4] and len(weekly["points"]) == 12
    assert weekly["top"][0].value == 5 and weekly["top"][0].change is None  # nothing kept 24 weeks back


def test_polls_read_today_and_remember_completed_days(events, round_trips):
    track_days_ago(events, 0, name="project_created")
    track_days_ago(events, 3, name="project_created")
    memory = OverviewMemory()
    events.counters.redis.ping()  # connected
    round_trips.clear()
    first = overview(events.counters, events.definitions, NOW.date(), "28d", memory)
    cold = sum(len(b"".join(c) if isinstance(c, list) else c) for c in round_trips)
    track_days_ago(events, 0, name="project_created")
    round_trips.clear()
    second = overview(events.counters, events.definitions, NOW.date(), "28d", memory)
    sent = b"".join(b"".join(c) if isinstance(c, list) else c for c in round_trips)
    assert len(round_trips) == 1 and len(sent) * 3 < cold  # today's totals only
    assert sent.count(b"EVALSHA") == 1 and str(day_number(NOW.date())).encode() in sent
    assert b":u:" not in sent, "active users (unique-user keys) are remembered"
    assert [f.value for f in first["figures"][:3]] == [1, 2, 2]
    assert [f.value for f in second["figures"][:3]] == [2, 3, 3]


def test_remembered_days_are_read_again_once_a_replay_lands(events):
    track_days_ago(events, 3, name="project_created")
    memory = OverviewMemory()
    assert overview(events.counters, events.definitions, NOW.date(), "7d", memory, replayed=0)["points"][3][1] == 1
    track_days_ago(events, 3, name="project_created")  # a late event: what a replay from the spool writes
    assert overview(events.counters, events.definitions, NOW.date(), "7d", memory, replayed=0)["points"][3][1] == 1
    assert overview(events.counters, events.definitions, NOW.date(), "7d", memory, replayed=1)["points"][3][1] == 2


def test_day_totals_read_every_rule_s_days_at_once_and_leave_out_days_without_any(events, round_trips, monkeypatch):
    monkeypatch.setattr(counters, "WINDOW_BATCH", 2)  # several script calls, still one round trip
    track_days_ago(events, 0, name="project_created")
    track_days_ago(events, 0, name="project_created")
    track_days_ago(events, 2, name="project_starred")
    track_days_ago(events, 1, name="dashboard_chart_viewed", additional_properties={"label": "a", "value": 2.5})
    rules = [Rule("project_created"), Rule("project_starred"), Rule("issue_created"), Rule("dashboard_chart_viewed")]
    days = [NOW.date() - timedelta(days=back) for back in range(3)]
    events.counters.day_totals(rules, days)  # the script loaded
    round_trips.clear()
    found = events.counters.day_totals(rules, days)
    assert len(round_trips) == 1
    assert found == {
        days[0]: {Rule("project_created"): 2},
        days[1]: {Rule("dashboard_chart_viewed"): 1},
        days[2]: {Rule("project_starred"): 1},
    }
    assert all(events.counters.day_total(rule, day) == found[day].get(rule, 0) for rule in rules for day in days)


def test_one_page_of_the_dictionary_reads_redis_once(events, round_trips):
    metrics, _ = catalogue(events.definitions)
    shown, page, pages = page_of(metrics, 2, size=5)
    figures(events.counters, shown, NOW.date())  # connects and loads the read scripts
    round_trips.clear()
    figures(events.counters, shown, NOW.date())
    assert len(round_trips) == 1 and (page, pages, len(shown)) == (2, 4, 5)
    assert page_of(metrics, 99, size=5)[1] == 4 and page_of([], 1)[1:] == (1, 1)


def test_search_and_filters_match_every_word_and_facet(events):
    metrics, entries = catalogue(events.definitions)
    assert [m.key_path for m in select(metrics, "CLONE ssh")] == ["counts.count_total_clone_button_clicked_with_ssh"]
    assert [m.key_path for m in select(metrics, "monthly clone")] == [
        "counts.count_total_clone_button_clicked",
        "counts.count_total_clone_button_clicked_with_ssh",
        "redis_hll_counters.count_distinct_user_id_from_clone_button_clicked",
    ]
    assert select(metrics, "  ") == metrics
    assert [m.key_path for m in select(metrics, "clone", {"unique": "user.id"})] == [
        "redis_hll_counters.count_distinct_user_id_from_clone_button_clicked"
    ]
    assert [e.name for e in select(entries, "administrator")] == ["admin_area_viewed"]
    options = facet_options(metrics)
    assert options["time_frame"] == ["28d", "7d", "all"] and "documentation" in options["product_group"]


def test_sorting_puts_the_largest_first_and_missing_values_last():
    rows = [
        (SimpleNamespace(name="a"), {"values": {"7d": 1}, "change": {"7d": -1}}),
        (SimpleNamespace(name="b"), {"values": {"all": 9}, "change": {}}),
        (SimpleNamespace(name="c"), {"values": {"7d": 5}, "change": {"7d": 3}}),
    ]
    assert [r[0].name for r in sorted(rows, key=sort_key("value_7d"))] == ["c", "a", "b"]
    assert [r[0].name for r in sorted(rows, key=sort_key("change_7d"))] == ["c", "a", "b"]
    assert [r[0].name for r in sorted(rows, key=sort_key("name"))] == ["a", "b", "c"]


def test_recent_event_reads_the_standard_context():
    user_hash = hashlib.sha256(b"7").hexdigest()
    record = {
        "action": "help_link_clicked",
        "label": "projects",
        "created_at_ms": int(NOW.timestamp() * 1000),
        "received_at": "later",
        "contexts": [
            {"schema": "iglu:other/thing/jsonschema/1-0-0", "data": {"user_id": "nope"}},
            {
                "schema": STANDARD_CONTEXT,
                "data": {"user_id": user_hash, "namespace_id": 4, "project_id": None, "source": "browser"},
            },
        ],
    }
    assert recent_event(record, {user_hash: "alice"}) == {
        "time": "2026-03-15T12:00:00Z",
        "event": "help_link_clicked",
        "user": "alice",
        "namespace_id": 4,
        "project_id": None,
        "source": "browser",
        "label": "projects",
        "property": None,
        "value": None,
    }
    assert recent_event(record)["user"] == user_hash[:12]
    assert recent_event({"action": "x", "received_at": "2026-03-15T12:00:00.000+00:00"}) == {
        "time": "2026-03-15T12:00:00.000+00:00",
        "event": "x",
        "user": None,
        "namespace_id": None,
        "project_id": None,
        "source": None,
        "label": None,
        "property": None,
        "value": None,
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


def test_chart_axes_have_round_ticks_and_bars_on_their_scale():
    points = [(date(2026, 1, d), v) for d, v in ((1, 0), (2, 3), (3, 7))]
    chart = layout(points)
    assert [tick.label for tick in chart["ticks"]] == ["0", "2", "4", "6", "8"]
    base, top = chart["ticks"][0].y, chart["ticks"][-1].y
    tallest = chart["bars"][-1]
    assert tallest["height"] == pytest.approx((base - top) * 7 / 8)
    assert [d["label"] for d in chart["dates"]][-1] == "Jan 3"
    assert chart["dates"][-1] == {"x": 100, "anchor": "end", "label": "Jan 3"}  # ends at the plot's edge
    assert tallest["x"] + tallest["width"] <= 100 and chart["bars"][0]["x"] == 0  # percent of the plot's width
    days = [(date(2026, 1, 1) + timedelta(days=n), 1) for n in range(28)]
    assert [d["label"] for d in layout(days)["dates"]] == ["Jan 7", "Jan 14", "Jan 21", "Jan 28"]
    assert len(layout(days[:7])["dates"]) == 4 and len(layout(days[:12])["dates"]) == 4  # fit on a phone
    assert short_number(1200) == "1.2k" and short_number(3_000_000) == "3M" and nice_ceiling(0) == 1
    assert [tick.label for tick in layout([(date(2026, 1, 1), 0)])["ticks"]] == ["0", "1", "2", "3", "4"]


def test_delivery_shows_a_status_report_s_problems_and_the_figures_behind_them(events):
    report = status(events)
    assert report["healthy"] and delivery(report)["problems"] == []
    report["spool"].update(pending=4, lost={"spool_unwritable": 2, "spool_full": 1})
    report["snowplow"] = {"queued": 3, "oldest_queued_at": NOW.timestamp(), "delivered": None, "dropped": 5}
    shown = delivery(report)
    assert shown["problems"] == report["problems"]  # the report's own sentences, never worked out again
    facts = dict(shown["facts"])
    assert facts["Waiting in the spool for Redis"] == 4 and facts["Lost for good"] == 3
    assert facts["Waiting for Snowplow"] == "3 (oldest 2026-03-15 12:00:00)"
    assert facts["Sent to Snowplow"] == "unknown" and facts["Not sent to Snowplow"] == 5
    assert dict(delivery({**report, "snowplow": None})["facts"])["Snowplow"] == "not configured"


def commands_sent(sent, name):
    """How many `name` commands the requests in `sent` (as the round_trips fixture records them) carry."""
    token = f"${len(name)}\r\n{name}\r\n".encode()
    return sum(b"".join(request if isinstance(request, list) else [request]).count(token) for request in sent)


def test_every_total_and_sum_is_read_in_one_script_call_per_frame_and_stays_exact(events, round_trips, on_the_day):
    for days, count in ((0, 2), (10, 1), (40, 1)):
        for _ in range(count):
            track_days_ago(events, days, name="project_created")
    metrics, _ = catalogue(events.definitions)
    summed = {rule for entry in metrics for m in entry.metrics.values() if m.kind != "unique" for rule in m.rules}
    figures(events.counters, metrics, NOW.date())  # connects and loads the read scripts
    round_trips.clear()
    read = dict(zip((m.key_path for m in metrics), figures(events.counters, metrics, NOW.date())))

    day_totals_sha = hashlib.sha1(counters.DAY_TOTALS_SCRIPT.encode()).hexdigest().encode()
    # one round trip, though most unique metrics were never tracked (their windows were never built)
    assert len(round_trips) == 1 and len(summed) > 4
    assert commands_sent(round_trips, "HMGET") == commands_sent(round_trips, "GET") == 0
    assert commands_sent(round_trips, "MGET") == 1  # every all-time counter
    # 7d and 28d, now and the period before: a call each over every totals hash, not a command a rule
    assert sum(b"".join(request).count(day_totals_sha) for request in round_trips) == 4
    # unique metrics' previous periods, kept by the first read: one call, not a script call a metric
    sent = b"".join(b"".join(request) for request in round_trips)
    assert sent.count(hashlib.sha1(counters.KEPT_COUNTS_SCRIPT.encode()).hexdigest().encode()) == 1
    assert hashlib.sha1(counters.FRAME_COUNTS_SCRIPT.encode()).hexdigest().encode() not in sent
    assert read["counts.count_total_project_created"] == {
        "values": {"7d": 2, "28d": 3, "all": 4},
        "change": {"7d": 2 - 1, "28d": 3 - 1},
    }
    assert read["counts.count_total_issue_created"]["values"] == {"7d": 0, "28d": 0, "all": 0}
