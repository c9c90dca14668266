"""The daily pass runs beside requests, never inside one, and upgrades what an older release left in Redis."""

import json
import time
from datetime import UTC, date, datetime, timedelta

import time_machine

from webapp.demo.store import namespaces, projects, users
from webapp.internal_events import current
from webapp.internal_events.counters import MERGE_CHUNK
from webapp.internal_events.model import Metric, Rule
from webapp.internal_events.service_ping import metric_values
from webapp.internal_events.status import status
from webapp.internal_events.upgrade import LEGACY_DAILY_DAYS, upgrade
from webapp.internal_events.windows import TOTAL_DAYS, day_number, day_stamp, days_of

DAY = date(2027, 6, 10)  # a day no write of the demo app has started the pass of
API = "/api/v4/usage_data"
MONTHLY_USERS = "redis_hll_counters.count_distinct_user_id_from_project_viewed_monthly"


def noon(day):
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def fill_dense_daily_keys(events, redis_client, last_day, days):
    """Every unique rule's daily HyperLogLogs over `days` days, full-size (dense, 14 KB), as a busy install has."""
    template = f"{events.counters.keys.prefix}template"
    for start in range(0, 20_000, 1000):
        redis_client.pfadd(template, *(f"u{n}" for n in range(start, start + 1000)))
    sketch = redis_client.get(template)
    redis_client.delete(template)
    rules = {rule for rules in events.definitions.unique_rule_sets_in_use() for rule in rules}
    pipe = redis_client.pipeline(transaction=False)
    for rule in rules:
        for back in range(days):
            pipe.set(events.counters.keys.daily(rule, last_day - timedelta(days=back)), sketch, ex=3600)
    pipe.execute()


def test_a_request_does_not_wait_for_the_daily_pass(demo, client_for, redis_client):
    """The first write of a day starts the pass (here a heavy one: an upgrade over 58 days of full-size
    keys) in the background; the request that wrote is answered meanwhile, and reads are exact before the
    pass is done."""
    with demo.app_context():
        events = current()
        admin = users.by_username("admin")
        website = projects.visible_by_path(admin, "acme", "website").id
        acme = namespaces.by_path("acme").id
    fill_dense_daily_keys(events, redis_client, DAY - timedelta(days=1), LEGACY_DAILY_DAYS)
    body = json.dumps({"event": "project_viewed", "project_id": website, "namespace_id": acme})
    headers = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    with time_machine.travel(noon(DAY), tick=True):
        bob = client_for("bob")
        started = time.perf_counter()
        response = bob.post(f"{API}/track_event", data=body, content_type="application/json", headers=headers)
        answered = time.perf_counter() - started
        assert response.status_code == 200
        assert not events.daily_pass.wait(0), "the request was answered while the daily pass still ran"
        with demo.app_context():
            early = metric_values(current())[MONTHLY_USERS]  # before the pass is done: counted from daily keys
        assert events.daily_pass.wait(300)
        passed = time.perf_counter() - started
        rule = Rule("project_viewed", unique="user")
        exact = redis_client.pfcount(*(events.counters.keys.daily(rule, day) for day in days_of("28d", DAY)))
        with demo.app_context():
            assert early == metric_values(current())[MONTHLY_USERS] == exact > 19_000
    assert answered * 3 < passed, (answered, passed)


def test_old_per_day_totals_are_moved_into_the_hashes_once(events, redis_client):
    """The release before kept a counter a day per total rule; after the upgrade its 7d and 28d totals go on."""
    keys = events.counters.keys
    starred, ssh = Rule("project_starred"), Rule("clone_button_clicked", filter=(("label", "ssh"),))
    old = {starred: {0: 2, 3: 5, 20: 7, 40: 11, TOTAL_DAYS + 5: 13}, ssh: {1: 4, 27: 6, 28: 8}}
    for rule, days in old.items():  # written as that release wrote them: INCRBY on `<rule base>:<YYYYMMDD>`
        for back, amount in days.items():
            redis_client.incrby(f"{keys.rule_base(rule)}:{day_stamp(DAY - timedelta(days=back))}", amount)
            redis_client.incrby(keys.all_time(rule), amount)
    weekly, monthly = "counts.count_total_project_starred_weekly", "counts.count_total_project_starred_monthly"
    ssh_monthly = "counts.count_total_clone_button_clicked_with_ssh_monthly"
    with time_machine.travel(noon(DAY), tick=False):
        before = metric_values(events)
        assert (before[weekly], before[monthly], before[ssh_monthly]) == (0, 0, 0), "the old keys are not read"
        events.track("project_starred", user_id=1, project_id=1)  # today, in the new layout, before the upgrade
        assert events.daily_pass.wait(30)
        moved = {key_path: metric_values(events)[key_path] for key_path in (weekly, monthly, ssh_monthly)}
        assert moved == {weekly: 2 + 5 + 1, monthly: 2 + 5 + 7 + 1, ssh_monthly: 4 + 6}
        assert events.counters.day_total(starred, DAY - timedelta(days=40)) == 11, "kept for the 12-week chart"
        leftovers = [f"{keys.rule_base(starred)}:{day_stamp(DAY - timedelta(days=back))}" for back in (0, 3, 40)]
        assert not redis_client.exists(*leftovers)
        assert redis_client.exists(f"{keys.rule_base(starred)}:{day_stamp(DAY - timedelta(days=TOTAL_DAYS + 5))}")

        redis_client.delete(keys.internal("layout"))  # as if cut short before its end: run again
        upgrade(events.counters, events.definitions, DAY)
        assert {key_path: metric_values(events)[key_path] for key_path in moved} == moved


def test_a_union_of_many_rules_is_counted_a_chunk_of_keys_at_a_time(events, redis_client):
    """Like the dashboard's active users over hundreds of events: no single command merges all their keys."""
    rules = tuple(Rule(f"event_{n}", unique="user") for n in range(MERGE_CHUNK // 28 + 3))
    union = Metric("many events", "28d", rules, "")
    expected = set()
    with time_machine.travel(noon(DAY), tick=False):
        for n, rule in enumerate(rules):
            for back in (1, 5, 28, 29):  # the 28 days ending yesterday, and the day before them
                users = {f"{n}-{back}", f"shared-{back}"}
                redis_client.pfadd(events.counters.keys.daily(rule, DAY - timedelta(days=back)), *users)
                expected |= users if back < 29 else set()
        assert events.counters.value(union, DAY - timedelta(days=1)) == len(expected)
        kept = redis_client.hgetall(events.counters.keys.kept_counts(rules, "28d"))
        assert {int(day): int(count) for day, count in kept.items()} == {day_number(DAY) - 1: len(expected)}
        assert not list(redis_client.scan_iter(match=f"{events.counters.keys.prefix}*merging*"))


def test_cron_runs_the_day_s_pass_once(app):
    """`flask internal-events daily-pass` does the day's work, which `status` shows; a second run, or a
    process's thread, skips it."""
    with time_machine.travel(noon(DAY), tick=False), app.app_context():
        assert status(current())["daily_pass"] == {"today": False, "yesterday": False, "upgraded": False}
        first = app.test_cli_runner().invoke(args=["internal-events", "daily-pass"])
        again = app.test_cli_runner().invoke(args=["internal-events", "daily-pass"])
        assert status(current())["daily_pass"] == {"today": True, "yesterday": False, "upgraded": True}
    assert (first.exit_code, first.output) == (0, "Daily pass done.\n")
    assert (again.exit_code, again.output) == (0, "Today's daily pass was already run by another process.\n")
