"""Pure logic: key names and time windows, no Redis needed."""

from datetime import UTC, date, datetime, timedelta

from redis.crc import key_slot

from webapp.internal_events.keys import KeySpace
from webapp.internal_events.model import Rule
from webapp.internal_events.windows import (
    DAILY_DAYS,
    KEPT_DAYS,
    TOTAL_DAYS,
    chart_weeks,
    computable_days,
    day_number,
    day_stamp,
    days_of,
    seconds_until_end_of,
)

DAY = date(2026, 3, 15)


def test_all_keys_of_an_event_share_a_slot_and_events_spread_out():
    keys = KeySpace("ie:")
    rules = [
        Rule("project_viewed"),
        Rule("project_viewed", unique="user"),
        Rule("project_viewed", filter=(("label", "a{b}"),)),
    ]
    slots = (
        {key_slot(keys.daily(r, DAY).encode()) for r in rules}
        | {key_slot(keys.all_time(rules[0]).encode())}
        | {key_slot(keys.daily_totals(r).encode()) for r in rules}
        | {key_slot(keys.kept_counts(rules, frame).encode()) for frame in ("7d", "28d")}
    )
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
    assert keys.kept_counts((Rule("x", unique="user"),), "7d") == "ie:{x}:u:user:weeks"
    assert keys.kept_counts((Rule("x", unique="user"),), "28d") == "ie:{x}:u:user:kept28d"
    two = (Rule("x", unique="user"), Rule("y", unique="user"))
    weeks = keys.kept_counts(two, "7d")
    assert weeks.startswith("ie:{x}:u:user:weeks:") and weeks != keys.kept_counts(two[::-1], "7d")


def test_frames_are_the_days_ending_today():
    assert days_of("7d", DAY) == [date(2026, 3, d) for d in range(15, 8, -1)]
    assert len(days_of("28d", DAY)) == 28 and days_of("28d", DAY)[-1] == date(2026, 2, 16)


def test_chart_weeks_end_with_the_7d_frame_and_daily_totals_cover_them():
    weeks = chart_weeks(DAY)
    assert len(weeks) == 12
    assert weeks[-1] == (date(2026, 3, 9), DAY)
    assert (DAY - weeks[0][0]).days + 1 == 84 <= TOTAL_DAYS


def test_daily_unique_keys_live_as_long_as_the_28_day_frame_needs_plus_slack():
    assert 28 < DAILY_DAYS <= 28 + 3  # earlier frames are kept numbers
    assert computable_days("28d") >= 2, "the daily pass may miss a day and still keep every 28-day count"


def test_a_days_key_lives_until_that_day_ends_in_utc_whatever_the_hour_now():
    midnight = datetime(2026, 3, 15, tzinfo=UTC).timestamp()
    assert seconds_until_end_of(DAY, midnight) == 86400
    assert seconds_until_end_of(DAY, midnight + 86399.9) == 1
    assert seconds_until_end_of(DAY, midnight + 86400) == 0  # gone: a write for it comes too late
    assert seconds_until_end_of(DAY + timedelta(days=DAILY_DAYS - 1), midnight) == DAILY_DAYS * 86400


def test_days_are_numbered_from_1970_and_stamped_as_in_key_names():
    assert day_number(date(1970, 1, 1)) == 0 and day_number(DAY) - day_number(DAY - timedelta(days=1)) == 1
    assert day_stamp(DAY) == "20260315" and day_stamp(date(2026, 1, 2)) == "20260102"


def test_complete_frames_countable_from_daily_keys_are_the_rest_kept_as_numbers():
    assert computable_days("7d") == DAILY_DAYS - 7 and computable_days("28d") == DAILY_DAYS - 28
    assert KEPT_DAYS["7d"] >= 7 * 12  # every chart week is kept
    assert computable_days("28d", daily_days=58) == 30  # an older release's longer-lived keys count more
