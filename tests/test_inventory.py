"""The data inventory lists what the definitions collect: the help page and `internal-events inventory` agree with them."""

import json
import re

from webapp.internal_events.definitions import load_definitions

NEW_EVENT = """---
description: A user exported their data
internal_events: true
action: data_exported
identifiers:
- user
additional_properties:
  label:
    description: The export format
  row_count:
    description: How many rows were exported
product_group: analytics_instrumentation
milestone: '1.0'
tiers:
- free
"""


def cli_inventory(app):
    result = app.test_cli_runner().invoke(args=["internal-events", "inventory", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_cli_inventory_matches_the_definitions(app, definitions_dir):
    (definitions_dir / "events" / "data_exported.yml").write_text(NEW_EVENT)
    definitions = load_definitions(definitions_dir)
    listed = cli_inventory(app)

    events = {event["name"]: event for event in listed["events"]}
    assert set(events) == set(definitions.events) and "data_exported" in events
    for name, definition in definitions.events.items():
        assert {p["name"] for p in events[name]["properties"]} == set(definition.properties)
        assert {i["identifier"] for i in events[name]["identifiers_to_snowplow"]} == set(definition.identifiers)
        assert set(events[name]["metrics"]) == {m.key_path for m in definitions.metrics if name in m.events}
    exported = events["data_exported"]
    assert [i["field"] for i in exported["identifiers_to_snowplow"]] == ["user_id"]
    assert "HMAC-SHA256" in exported["identifiers_to_snowplow"][0]["form"]
    assert {p["name"]: p["sent_as"] for p in exported["properties"]} == {
        "label": "the event's label", "row_count": "standard context extra.row_count"}
    assert [m["key_path"] for m in listed["metrics"]] == [m.key_path for m in definitions.metrics]
    assert all(m["aggregate_only"] for m in listed["metrics"])


def test_the_text_inventory_names_every_event(app, definitions_dir):
    result = app.test_cli_runner().invoke(args=["internal-events", "inventory"])
    assert result.exit_code == 0
    assert set(re.findall(r"^event (\w+):", result.output, re.M)) == set(load_definitions(definitions_dir).events)


def test_the_help_page_links_to_the_inventory_page_which_lists_the_definitions(app, definitions_dir):
    client = app.test_client()
    help_page = client.get("/help").get_data(as_text=True)
    usage_data = help_page[help_page.index('id="usage-data"'):]
    assert 'href="/help/usage-data"' in usage_data[:usage_data.index("</section>")]
    page = client.get("/help/usage-data")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    definitions = load_definitions(definitions_dir)
    assert set(re.findall(r'<tr id="event-(\w+)">', html)) == set(definitions.events)
    for metric in definitions.metrics:
        assert f"<code>{metric.key_path}</code>" in html
    assert 'id="deletion"' in html and "HyperLogLog" in html
