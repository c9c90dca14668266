"""Usage-data request bodies: only their shape is checked here, before the tracking core sees them. Pure."""

import pytest

from webapp.api.payload import MAX_EVENTS, PayloadError, batch, event_call, parse, shown
from webapp.internal_events.ids import MAX_ID, MIN_ID


def test_a_body_is_json_and_nothing_else():
    assert parse('{"event": "a"}') == {"event": "a"}
    assert parse(b'{"events": []}') == {"events": []}
    for raw, said in [("{", "not valid JSON"), (b"\xff", "not valid JSON"), ("[" * 100_000, "nested too deeply")]:
        with pytest.raises(PayloadError, match=said):
            parse(raw)


def test_an_event_becomes_the_tracking_calls_arguments_with_every_field_named():
    assert event_call({"event": "project_viewed", "project_id": MAX_ID}) == {
        "event": "project_viewed",
        "namespace_id": None,
        "project_id": MAX_ID,
        "additional_properties": None,
        "send_to_snowplow": None,
    }
    assert event_call({"event": "a", "namespace_id": MIN_ID, "send_to_snowplow": False})["namespace_id"] == MIN_ID


@pytest.mark.parametrize(
    "item, said",
    [
        ([], "must be a JSON object, got list"),
        ({"event": "a", "user_id": 1}, "user_id cannot be sent"),
        ({"event": "a", "colour": "red"}, "unknown field 'colour'"),
        ({}, "missing field 'event'"),
        ({"event": ""}, "non-empty string"),
        ({"event": 7}, "non-empty string"),
        ({"event": "a", "project_id": MAX_ID + 1}, "'project_id' must be"),
        ({"event": "a", "namespace_id": -1}, "'namespace_id' must be"),
        ({"event": "a", "project_id": True}, "'project_id' must be"),
        ({"event": "a", "project_id": "3"}, "'project_id' must be"),
        ({"event": "a", "additional_properties": ["label"]}, "'additional_properties' must be a JSON object"),
        ({"event": "a", "send_to_snowplow": "yes"}, "'send_to_snowplow' must be true or false"),
    ],
)
def test_an_event_of_the_wrong_shape_is_refused_naming_the_problem(item, said):
    with pytest.raises(PayloadError, match=said):
        event_call(item)


def test_a_batch_is_a_list_of_1_to_50_events_and_nothing_beside_it():
    events = [{"event": "a"}] * MAX_EVENTS
    assert batch({"events": events}) == events
    for body, said in [
        ([], "body must be a JSON object"),
        ({"event": "a"}, "body must be a JSON object"),
        ({"events": [], "user": 1}, "unknown field 'user'"),
        ({"events": {"event": "a"}}, "'events' must be a list, got dict"),
        ({"events": []}, "'events' is empty"),
        ({"events": events + [{"event": "a"}]}, f"Maximum {MAX_EVENTS} events"),
    ]:
        with pytest.raises(PayloadError, match=said):
            batch(body)


def test_a_hostile_value_is_cut_short_in_the_message():
    assert shown("x" * 1000).endswith("...") and len(shown("x" * 1000)) == 60
    assert shown("ok") == "'ok'"
