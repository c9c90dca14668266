"""Chart history across the switch from daily HyperLogLogs to kept weekly numbers, late replays included.

Redis's clock does not travel with the tests: a daily key's expiry is checked as a
TTL, and keys past it are removed by the test as Redis would have removed them.
"""

import re
import textwrap
from datetime import UTC, date, datetime, timedelta

import time_machine

from webapp.dashboard_data import OverviewMemory, catalogue, figures, overview
from webapp.internal_events.model import Rule
from webapp.internal_events.upgrade import LEGACY_DAILY_DAYS
from webapp.internal_events.windows import DAILY_DAYS, TOTAL_DAYS, chart_weeks, day_number, day_stamp

START = date(2026, 1, 1)
UNIQUE = "redis_hll_counters.count_distinct_user_id_from_project_viewed_weekly"
UNION = "redis_hll_counters.count_distinct_user_id_from_viewed_or_created_weekly"
DAILY_KEY = re.compile(rb":u:\w+:(\d{8})$")
WINDOW_KEY = re.compile(rb":(?:7d|28d):(\d{8})$")


def noon(day):
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def users_on(day):
    """A few users a day, overlapping from day to day, so weeks differ and unions matter."""
    n = (day - START).days
    return {n % 13 + k for k in range(n % 4 + 1)}


def add_union_metric(definitions_dir):
    (definitions_dir / "metrics" / "counts_all" / "count_distinct_user_id_from_viewed_or_created.yml").write_text(
        textwrap.dedent("""
            key_path: redis_hll_counters.count_distinct_user_id_from_viewed_or_created
            description: Unique users who viewed or created a project
            product_group: project_management
            value_type: number
            status: active
            milestone: '1.0'
            time_frame: [7d, 28d]
            data_source: internal_events
            data_category: optional
            tiers: [free]
            events:
            - {name: project_viewed, unique: user.id}
            - {name: project_created, unique: user.id}
        """)
    )


def expire_keys(redis_client, key_prefix, today, daily_days=DAILY_DAYS):
    """Remove what Redis would have expired by `today`: daily keys older than `daily_days`, older days' windows."""
    oldest = day_stamp(today - timedelta(days=daily_days - 1)).encode()
    for key in redis_client.scan_iter(match=f"{key_prefix}*", count=1000):
        daily, window = DAILY_KEY.search(key), WINDOW_KEY.search(key)
        if (daily and daily.group(1) < oldest) or (window and window.group(1) < day_stamp(today).encode()):
            redis_client.delete(key)


def daily_stamps(redis_client, key_prefix, event):
    return sorted(
        DAILY_KEY.search(key).group(1).decode()
        for key in redis_client.scan_iter(match=f"{key_prefix}{{{event}}}:u:*", count=1000)
        if DAILY_KEY.search(key)
    )


def expected_weeks(per_day, until):
    return [
        (last, len(set().union(*(per_day.get(first + timedelta(days=n), set()) for n in range(7)))))
        for first, last in chart_weeks(until)
    ]


def test_chart_weeks_stay_exact_after_daily_keys_expire(events, definitions_dir, redis_client, key_prefix):
    add_union_metric(definitions_dir)
    events.live_definitions.reload_if_changed()
    viewed, union = {}, {}
    last_day = START + timedelta(days=100)
    day = START
    while day <= last_day:  # nobody reads a chart meanwhile: the daily pass alone keeps the weeks
        with time_machine.travel(noon(day), tick=False):
            for user in users_on(day):
                events.track("project_viewed", user_id=user, namespace_id=1, project_id=1)
            created = {100 + day.day % 3}  # only in the union
            events.track("project_created", user_id=created.pop(), namespace_id=1, project_id=1)
            assert events.flush() and events.daily_pass.wait(30)
        viewed[day] = users_on(day)
        union[day] = users_on(day) | {100 + day.day % 3}
        expire_keys(redis_client, key_prefix, day)
        day += timedelta(days=1)

    assert len(daily_stamps(redis_client, key_prefix, "project_viewed")) <= 2 * DAILY_DAYS  # user and namespace rules
    assert daily_stamps(redis_client, key_prefix, "project_viewed")[0] > day_stamp(last_day - timedelta(days=60))
    with time_machine.travel(noon(last_day), tick=False):
        for key_path, per_day in ((UNIQUE, viewed), (UNION, union)):
            weeks = events.counters.weekly_values(events.definitions.metric(key_path), last_day)
            assert weeks == expected_weeks(per_day, last_day), key_path
            assert weeks[-1][1] == events.counters.value(events.definitions.metric(key_path), last_day)


def test_kept_weeks_are_read_not_recounted(events, redis_client, key_prefix):
    day = START + timedelta(days=30)
    for back in range(14, -1, -1):
        with time_machine.travel(noon(day - timedelta(days=back)), tick=False):
            events.track("project_viewed", user_id=back, namespace_id=1, project_id=1)
            assert events.flush()
    metric = events.definitions.metric(UNIQUE)
    weeks_key = events.counters.keys.kept_counts(metric.rules, "7d")
    with time_machine.travel(noon(day), tick=False):
        assert [v for _, v in events.counters.weekly_values(metric, day)][-3:] == [1, 7, 7]
        redis_client.hset(weeks_key, day_number(day - timedelta(days=7)), 99)  # a kept week, altered
        assert [v for _, v in events.counters.weekly_values(metric, day)][-3:] == [1, 99, 7]


def test_a_late_replay_lands_in_the_week_of_its_day(events, redis_client, key_prefix):
    """Events spooled on day D and replayed a week later count in D's weeks, not in the week of the replay."""
    late = START + timedelta(days=40)
    for back in range(10, -1, -1):
        with time_machine.travel(noon(late - timedelta(days=back)), tick=False):
            events.track("project_viewed", user_id=1, namespace_id=1, project_id=1)
            assert events.flush()
    metric = events.definitions.metric(UNIQUE)
    replay_day = late + timedelta(days=7)
    with time_machine.travel(noon(replay_day), tick=False):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=1)
        assert events.flush()
        before = events.counters.weekly_values(metric, replay_day)
        assert before[-2] == (late, 1), "the week ending on the late day is kept"
        spooled = [events.prepare("project_viewed", user_id=user, namespace_id=1, project_id=1) for user in (2, 3)]
        events.delivery.spool.append("writer-down-on-the-late-day", 1, late, spooled)
        assert events.delivery.replay() == 2
        after = events.counters.weekly_values(metric, replay_day)
        assert after[-2] == (late, 3), "the week ending on the late day counts the replayed users"
        assert after[-1] == before[-1] == (replay_day, 1), "the week of the replay does not"
        assert after[:-2] == before[:-2]
        assert events.counters.value(events.definitions.metric(UNIQUE.replace("weekly", "monthly")), replay_day) == 3


def test_replays_too_late_for_some_or_all_unique_keys_still_count_their_totals(events):
    """26 days late: in the 28-day window; 70 days late: past the daily keys, still within the daily totals."""
    replay_day = START + timedelta(days=90)
    metric = events.definitions.metric(UNIQUE.replace("weekly", "monthly"))
    with time_machine.travel(noon(replay_day), tick=False):
        for late in (26, 70):
            day = replay_day - timedelta(days=late)
            spooled = [events.prepare("project_viewed", user_id=late, namespace_id=1, project_id=1)]
            events.delivery.spool.append(f"writer-{late}", 1, day, spooled)
        assert events.delivery.replay() == 2
        assert events.counters.value(metric, replay_day) == 1, "26 days ago is in the 28-day window"
        assert events.counters.day_total(Rule("project_viewed"), replay_day - timedelta(days=70)) == 1
        assert int(events.counters.redis.get(events.counters.keys.all_time(Rule("project_viewed")))) == 2


def test_daily_unique_keys_expire_with_the_window_and_totals_keep_the_chart(events, redis_client, key_prefix):
    day = START + timedelta(days=200)
    now = noon(day)
    with time_machine.travel(now, tick=False):
        events.track("project_viewed", user_id=1, namespace_id=1, project_id=1)
        assert events.flush()
    key = events.counters.keys.daily(Rule("project_viewed", unique="user"), day)
    end_of_last_day = datetime.combine(day + timedelta(days=DAILY_DAYS), datetime.min.time(), UTC)
    assert abs(redis_client.ttl(key) - (end_of_last_day - now).total_seconds()) <= 2
    for later in range(TOTAL_DAYS + 11):
        with time_machine.travel(noon(day + timedelta(days=later)), tick=False):
            events.track("project_starred", user_id=1, project_id=1)
    days = redis_client.hkeys(events.counters.keys.daily_totals(Rule("project_starred")))
    assert sorted(int(field) for field in days) == [day_number(day) + n for n in range(11, TOTAL_DAYS + 11)]


def distinct(per_day, last, days):
    return len(set().union(*(per_day.get(last - timedelta(days=n), set()) for n in range(days))))


def live_day(events, redis_client, key_prefix, day, per_day, daily_days=DAILY_DAYS):
    """One day of a running install: its users view projects, the daily pass runs, old keys expire."""
    with time_machine.travel(noon(day), tick=False):
        for user in users_on(day):
            events.track("project_viewed", user_id=user, namespace_id=1, project_id=1)
        assert events.daily_pass.wait(30)
    per_day[day] = users_on(day)
    expire_keys(redis_client, key_prefix, day, daily_days)


def assert_dashboard_exact(events, per_day, day):
    """The metric's 7d and 28d figures and their change, and the active users, against the exact sets."""
    entry = next(e for e in catalogue(events.definitions)[0] if e.key_path == UNIQUE.removesuffix("_weekly"))
    with time_machine.travel(noon(day), tick=False):
        got = figures(events.counters, [entry], day)[0]
        active = overview(events.counters, events.definitions, day, "7d", OverviewMemory())["figures"][3:]
    want = {
        frame: (distinct(per_day, day, length), distinct(per_day, day - timedelta(days=length), length))
        for frame, length in (("7d", 7), ("28d", 28))
    }
    assert {frame: (got["values"][frame], got["values"][frame] - got["change"][frame]) for frame in want} == want, day
    assert [(figure.value, figure.previous) for figure in active] == [want["7d"], want["28d"]], day


def test_previous_periods_stay_exact_across_the_switch_to_kept_counts(events, redis_client, key_prefix):
    """Frames move from daily keys to kept counts as the keys expire: the dashboard's figures never notice."""
    per_day = {}
    for offset in range(75):
        day = START + timedelta(days=offset)
        live_day(events, redis_client, key_prefix, day, per_day)
        if offset >= 55:  # the previous 28 days have been read from kept counts since day 30
            assert_dashboard_exact(events, per_day, day)
    assert len(daily_stamps(redis_client, key_prefix, "project_viewed")) <= 2 * DAILY_DAYS  # user and namespace
    with time_machine.travel(noon(day), tick=False):
        assert events.counters.weekly_values(events.definitions.metric(UNIQUE), day) == expected_weeks(per_day, day)


def test_an_upgrade_keeps_the_28_day_counts_the_old_daily_keys_still_allow(events, redis_client, key_prefix):
    """The release before kept daily keys 58 days and no 28-day counts: its keys give them on the upgrade day."""
    per_day = {}
    upgrade_day = START + timedelta(days=60)
    day = START
    while day < upgrade_day:
        live_day(events, redis_client, key_prefix, day, per_day, daily_days=LEGACY_DAILY_DAYS)
        day += timedelta(days=1)
    old_release = [key for key in redis_client.scan_iter(match=f"{key_prefix}*", count=1000) if b":kept28d" in key] + [
        events.counters.keys.internal("layout")
    ]
    redis_client.delete(*old_release)
    while day < upgrade_day + timedelta(days=31):
        live_day(events, redis_client, key_prefix, day, per_day)
        assert_dashboard_exact(events, per_day, day)
        day += timedelta(days=1)


def test_a_replay_a_day_late_reaches_the_kept_28_day_count_of_its_day(events, redis_client, key_prefix):
    """The kept count of the 28 days ending yesterday is dropped by yesterday's late events and counted again
    by the next pass: 28 days on, the dashboard's previous period holds them."""
    per_day = {}
    day = START
    for _ in range(40):
        live_day(events, redis_client, key_prefix, day, per_day)
        day += timedelta(days=1)
    late_day = day - timedelta(days=1)
    with time_machine.travel(noon(day), tick=False):  # the pass of `day` kept the 28 days ending `late_day`
        live_day(events, redis_client, key_prefix, day, per_day)
        spooled = [events.prepare("project_viewed", user_id=user, namespace_id=1, project_id=1) for user in (900, 901)]
        events.delivery.spool.append("writer-down-yesterday", 1, late_day, spooled)
        assert events.delivery.replay() == 2
    per_day[late_day] = per_day[late_day] | {900, 901}
    for _ in range(27):
        day += timedelta(days=1)
        live_day(events, redis_client, key_prefix, day, per_day)
    assert day - timedelta(days=28) == late_day
    assert_dashboard_exact(events, per_day, day)
