"""Frame windows: one HyperLogLog per unique rule and frame, built once from daily keys and kept current by writes."""

from datetime import UTC, date, datetime, timedelta

import time_machine

from webapp.internal_events.model import Rule
from webapp.internal_events.service_ping import metric_values

DAY = date(2026, 5, 20)
WEEKLY = "redis_hll_counters.count_distinct_user_id_from_project_viewed_weekly"
MONTHLY = "redis_hll_counters.count_distinct_user_id_from_project_viewed_monthly"


def at(day):
    return time_machine.travel(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False)


def view(events, *users):
    for user in users:
        events.track("project_viewed", user_id=user, namespace_id=1, project_id=1)
    assert events.flush() and events.daily_pass.wait(30)


def test_windows_are_built_once_then_follow_every_write(events, redis_client):
    seen = {}
    for back in range(35, 0, -1):
        with at(DAY - timedelta(days=back)):
            view(events, back, back + 100)
        seen[back] = {back, back + 100}
    rule = Rule("project_viewed", unique="user")
    window = events.counters.keys.window(rule, "28d", DAY)
    with at(DAY):
        assert not redis_client.exists(window)
        view(events, 1)  # the day's first write: the daily pass (in the background) builds today's windows
        assert redis_client.exists(window)
        values = metric_values(events)
        assert values[WEEKLY] == len(set().union(*(seen[b] for b in range(1, 7))))
        assert values[MONTHLY] == len(set().union(*(seen[b] for b in range(1, 28))))
        view(events, 500, 501, 3)
        values = metric_values(events)
        assert values[WEEKLY] == len(set().union(*(seen[b] for b in range(1, 7)), {500, 501}))
        assert values[MONTHLY] == len(set().union(*(seen[b] for b in range(1, 28)), {500, 501}))
        # A replay of events spooled three days ago lands in today's windows too.
        late = [events.prepare("project_viewed", user_id=user, namespace_id=1, project_id=1) for user in (700, 701)]
        events.delivery.spool.append("writer-of-three-days-ago", 1, DAY - timedelta(days=3), late)
        assert events.delivery.replay() == 2
        values = metric_values(events)
        assert values[WEEKLY] == len(set().union(*(seen[b] for b in range(1, 7)), {500, 501, 700, 701}))
        assert values[MONTHLY] == len(set().union(*(seen[b] for b in range(1, 28)), {500, 501, 700, 701}))


def test_a_window_missing_at_read_is_built_from_the_daily_keys(events, redis_client):
    with at(DAY - timedelta(days=2)):
        view(events, 1, 2)
    with at(DAY):
        rule = Rule("project_viewed", unique="user")
        for frame in ("7d", "28d"):
            redis_client.delete(events.counters.keys.window(rule, frame, DAY))
        values = metric_values(events)
        assert (values[WEEKLY], values[MONTHLY]) == (2, 2)
        ttl = redis_client.ttl(events.counters.keys.window(rule, "7d", DAY))
        assert 12 * 3600 < ttl <= 12 * 3600 + 600, "a window lives to the end of its day, and ten minutes more"


def test_metrics_without_data_get_no_window(events, redis_client, key_prefix):
    with at(DAY):
        metric_values(events)
        assert not list(redis_client.scan_iter(match=f"{key_prefix}*:7d:*"))
        assert not list(redis_client.scan_iter(match=f"{key_prefix}*:28d:*"))
