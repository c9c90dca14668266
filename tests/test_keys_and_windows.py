"""Pure logic: key names and time windows, no Redis needed."""

from datetime import date

from redis.crc import key_slot

from webapp.internal_events.keys import KeySpace
from webapp.internal_events.model import Rule
from webapp.internal_events.windows import DAILY_DAYS, TOTAL_DAYS, chart_weeks, days_of

DAY = date(2026, 3, 15)


def test_all_keys_of_an_event_share_a_slot_and_events_spread_out():
    keys = KeySpace("ie:")
    rules = [Rule("project_viewed"), Rule("project_viewed", unique="user"),
             Rule("project_viewed", filter=(("label", "a{b}"),))]
    slots = ({key_slot(keys.daily(r, DAY).encode()) for r in rules} | {key_slot(keys.all_time(rules[0]).encode())}
             | {key_slot(keys.daily_totals(r).encode()) for r in rules} | {key_slot(keys.weeks(rules).encode())})
    assert len(slots) == 1
    events = [f"event_{i}" for i in range(50)]
    assert len({key_slot(keys.all_time(Rule(e)).encode()) for e in events}) > 40


def test_key_names_are_readable_and_distinct_per_rule():
    keys = KeySpace("ie:")
    assert keys.daily(Rule("x", unique="user"), DAY) == "ie:{x}:u:user:20260315"
    assert keys.all_time(Rule("x")) == "ie:{x}:t:all"
    assert keys.all_time(Rule("x", operator="sum(value)")) == "ie:{x}:s:all"
    assert keys.all_time(Rule("x", filter=(("label", "ssh"),))) == 'ie:{x}:t:f[["label","ssh"]]:all'
    assert keys.daily_totals(Rule("x")) == "ie:{x}:t:days"
    assert keys.weeks((Rule("x", unique="user"),)) == "ie:{x}:u:user:weeks"
    two = (Rule("x", unique="user"), Rule("y", unique="user"))
    assert keys.weeks(two).startswith("ie:{x}:u:user:weeks:") and keys.weeks(two) != keys.weeks(two[::-1])


def test_frames_are_the_days_ending_today():
    assert days_of("7d", DAY) == [date(2026, 3, d) for d in range(15, 8, -1)]
    assert len(days_of("28d", DAY)) == 28 and days_of("28d", DAY)[-1] == date(2026, 2, 16)


def test_chart_weeks_end_with_the_7d_frame_and_daily_totals_cover_them():
    weeks = chart_weeks(DAY)
    assert len(weeks) == 12
    assert weeks[-1] == (date(2026, 3, 9), DAY)
    assert (DAY - weeks[0][0]).days + 1 == 84 <= TOTAL_DAYS


def test_daily_unique_keys_live_as_long_as_two_28_day_frames_need_plus_slack():
    assert 2 * 28 <= DAILY_DAYS <= 2 * 28 + 3  # a 28-day frame and the 28 days before, for the dashboard
