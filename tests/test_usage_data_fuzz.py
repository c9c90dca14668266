"""Thousands of generated bodies against the usage-data API, judged by its OpenAPI description.

Bodies come from the description's own schema for an event, from realistic
events, from near misses, from any JSON at all and from raw bytes. Every answer must be
documented (status and body), never a 5xx, and an event may only be accepted,
and counted, when it fits the description: afterwards the counts in Redis equal
the events the API said it accepted.
"""

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from webapp.api import payload
from webapp.demo.db import get_db
from webapp.internal_events import current
from webapp.internal_events.model import Rule

from helpers import sign_in

SPEC = yaml.safe_load((Path(payload.__file__).with_name("openapi.yaml")).read_text())
HEADERS = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


def resolved(node):
    """The description with every local $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolved(target)
        return {key: resolved(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(value) for value in node]
    return node


PATHS = resolved(SPEC["paths"])
EVENT_SCHEMA = resolved(SPEC["components"]["schemas"]["Event"])
fits_event = Draft202012Validator(EVENT_SCHEMA).is_valid

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def api(make_demo):
    """bob's signed-in client on a demo app without rate limit, and the app."""
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=0)
    with app.app_context():
        names = sorted(current().definitions.events)
        ids = [row[0] for row in get_db().execute("SELECT id FROM projects UNION SELECT id FROM namespaces")]
    return sign_in(app.test_client(), "bob"), app, names, ids


def from_schema(schema):
    """Values the schema allows, for the few JSON Schema keywords the description uses."""
    if "oneOf" in schema:
        return st.one_of([from_schema(option) for option in schema["oneOf"]])
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return st.one_of([_of_type(kind, schema) for kind in types])


def _of_type(kind, schema):
    if kind == "null":
        return st.none()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 300), 300))
    required = {name: from_schema(schema["properties"][name]) for name in schema.get("required", ())}
    optional = {name: from_schema(sub) for name, sub in schema.get("properties", {}).items() if name not in required}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):  # a free-form mapping such as additional_properties
        return st.dictionaries(st.text(max_size=20), from_schema(extra), max_size=4)
    return st.fixed_dictionaries(required, optional=optional)


def events_strategy(names, ids):
    """Events as the description allows them, realistic ones that may be accepted, and near misses."""
    realistic = st.fixed_dictionaries(
        {"event": st.sampled_from(names)},
        optional={
            "project_id": st.sampled_from(ids) | st.none(),
            "namespace_id": st.sampled_from(ids) | st.none(),
            "additional_properties": st.dictionaries(
                st.sampled_from(["label", "property", "value", "chart_weeks", "colour"]),
                st.text(max_size=300) | st.integers() | st.floats() | st.booleans(),
                max_size=3,
            ),
        },
    )
    near_miss = st.tuples(realistic, st.sampled_from(["user_id", "extra", "Event"]), json_values).map(
        lambda parts: {**parts[0], parts[1]: parts[2]}
    )
    return st.one_of(from_schema(EVENT_SCHEMA), realistic, realistic, near_miss, json_values)


def body_of(value):
    return value if isinstance(value, bytes) else json.dumps(value)


def check_answer(path, response):
    """A documented status with a body of the documented shape; never a server error."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    documented = PATHS[path]["post"]["responses"]
    assert str(response.status_code) in documented, f"{path} answered an undocumented {response.status_code}"
    schema = documented[str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator(schema).validate(response.get_json())


def counted(app, names):
    with app.app_context():
        counters = current().counters
        return sum(int(counters.redis.get(counters.keys.all_time(Rule(name))) or 0) for name in names)


def test_track_event_with_thousands_of_generated_bodies(api):
    client, app, names, ids = api
    accepted = []

    @settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=events_strategy(names, ids) | st.binary(max_size=200))
    def one(body):
        response = client.post(
            "/api/v4/usage_data/track_event", data=body_of(body), headers=HEADERS, content_type="application/json"
        )
        check_answer("/track_event", response)
        if response.status_code == 200:
            assert fits_event(body), f"accepted an event outside the description: {body!r}"
            accepted.append(body)

    one()
    assert accepted, "some realistic events were accepted"
    assert counted(app, names) == len(accepted)


def test_track_events_with_thousands_of_generated_batches(api):
    client, app, names, ids = api
    accepted = []
    batches = st.one_of(
        st.fixed_dictionaries({"events": st.lists(events_strategy(names, ids), max_size=55)}),
        st.fixed_dictionaries({"events": json_values}),
        json_values,
        st.binary(max_size=200),
    )

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=batches)
    def many(body):
        response = client.post(
            "/api/v4/usage_data/track_events", data=body_of(body), headers=HEADERS, content_type="application/json"
        )
        check_answer("/track_events", response)
        if response.status_code != 200:
            return
        results = response.get_json()["results"]
        assert len(results) == len(body["events"])
        for item, result in zip(body["events"], results):
            if result["accepted"]:
                assert fits_event(item), f"accepted an event outside the description: {item!r}"
                accepted.append(item)
        assert response.get_json()["accepted"] == sum(r["accepted"] for r in results)

    many()
    assert accepted, "some realistic events were accepted"
    assert counted(app, names) == len(accepted)


def test_the_description_covers_the_api(app):
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v4/usage_data/")}
    assert routes == {"/api/v4/usage_data" + path for path in SPEC["paths"]}
