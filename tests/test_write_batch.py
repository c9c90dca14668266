"""Pure logic of the write path: what a batch of events becomes before it reaches Redis, no Redis needed."""

from datetime import UTC, date, datetime, timedelta

from webapp.internal_events.counters import WriteBatch, unique_element
from webapp.internal_events.keys import KeySpace
from webapp.internal_events.model import Definitions, Rule, TrackedEvent
from webapp.internal_events.windows import DAILY_DAYS, TOTAL_DAYS, day_number

DAY = date(2026, 3, 15)
NOON = datetime(2026, 3, 15, 12, tzinfo=UTC).timestamp()
KEYS = KeySpace("ie:")
VIEWED_BY = Rule("project_viewed", unique="user")
VIEWS = Rule("project_viewed")
SSH_VIEWS = Rule("project_viewed", filter=(("label", "ssh"),))
VALUE_SUM = Rule("project_viewed", operator="sum(value)")


def batch_of(rules, events, day=DAY):
    batch = WriteBatch(KEYS, Definitions(events={}, metrics=()), now_seconds=NOON)
    for event in events:
        batch.add(rules, event, day)
    return batch


def calls(batch):
    return list(batch.script_calls())


def viewed(user_id=1, **properties):
    return TrackedEvent("project_viewed", user_id=user_id, namespace_id=2, project_id=3, properties=properties)


def test_a_hundred_events_of_one_kind_are_one_call_adding_every_element_and_counting_once():
    [(event, keys, args)] = calls(batch_of([VIEWED_BY, VIEWS], [viewed(user_id=n) for n in range(100)]))
    assert event == "project_viewed"
    daily = keys.index(KEYS.daily(VIEWED_BY, DAY))
    assert KEYS.all_time(VIEWS) in keys and KEYS.daily_totals(VIEWS) in keys
    unique_at = args.index("u")
    ttl, windows, elements = args[unique_at + 1 : unique_at + 4]
    assert daily == 0 and elements == 100 and args[unique_at + 4 : unique_at + 104] == [str(n) for n in range(100)]
    assert 0 < ttl <= DAILY_DAYS * 86400 and windows == len(keys) - 3  # the frame windows follow the daily key
    assert args[args.index("a") + 1] == 100 and args[args.index("h") + 1 : args.index("h") + 3] == [
        day_number(DAY),
        100,
    ]


def test_events_of_different_kinds_are_one_call_each_so_each_stays_in_its_own_slot():
    other = TrackedEvent("project_created", user_id=1, namespace_id=2, project_id=3)
    batch = batch_of([VIEWS], [viewed()])
    batch.add([Rule("project_created")], other, DAY)
    assert sorted(event for event, _, _ in calls(batch)) == ["project_created", "project_viewed"]


def test_a_rule_whose_filter_does_not_match_writes_nothing():
    assert calls(batch_of([SSH_VIEWS], [viewed(label="https"), viewed()])) == []
    [(_, keys, args)] = calls(batch_of([SSH_VIEWS], [viewed(label="ssh")]))
    assert KEYS.all_time(SSH_VIEWS) in keys and args[args.index("a") + 1] == 1


def test_a_sum_adds_the_values_and_skips_events_without_one():
    [(_, keys, args)] = calls(batch_of([VALUE_SUM], [viewed(value=2), viewed(value=0.5), viewed()]))
    assert KEYS.all_time(VALUE_SUM) in keys
    assert args[args.index("A") + 1] == 2.5 and args[args.index("f") + 2] == 2.5


def test_a_unique_rule_skips_events_without_its_id():
    assert calls(batch_of([VIEWED_BY], [viewed(user_id=None)])) == []


def test_an_event_older_than_its_daily_key_adds_no_element_and_one_older_than_the_totals_only_the_all_time_total():
    too_old = DAY - timedelta(days=DAILY_DAYS)
    assert calls(batch_of([VIEWED_BY], [viewed()], day=too_old)) == []
    [(_, keys, args)] = calls(batch_of([VIEWS], [viewed()], day=DAY - timedelta(days=TOTAL_DAYS)))
    assert keys == [KEYS.all_time(VIEWS)] and args == ["a", 1]


def test_unique_elements_are_ids_as_they_are_and_properties_by_a_stable_hash():
    by_label = Rule("project_viewed", unique="label")
    assert unique_element(VIEWED_BY, viewed(user_id=42)) == "42"
    assert unique_element(VIEWED_BY, viewed(user_id=None)) is None
    assert unique_element(by_label, viewed()) is None
    ssh = unique_element(by_label, viewed(label="ssh"))
    assert ssh == unique_element(by_label, viewed(user_id=9, label="ssh")) and len(ssh) == 24
    assert ssh != unique_element(by_label, viewed(label="https"))
    by_value = Rule("project_viewed", unique="value")
    assert unique_element(by_value, viewed(value=1)) == unique_element(by_value, viewed(value=1.0))
    assert unique_element(by_value, viewed(value=1)) != unique_element(by_value, viewed(value="1"))
