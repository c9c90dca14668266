"""`internal-events iglu-export`: a static Iglu registry holding every context schema events refer to."""

import json

from jsonschema import Draft7Validator

from webapp import create_app

from helpers import reset_collector


def test_every_context_an_event_carries_resolves_in_the_exported_registry(
    config, tmp_path, make_events, live_server, collector
):
    vendor = "com.example.analytics"
    app = create_app({**config, "INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR": vendor})
    result = app.test_cli_runner().invoke(args=["internal-events", "iglu-export", str(tmp_path / "registry")])
    assert result.exit_code == 0, result.output
    assert f"iglu:{vendor}/standard_context/jsonschema/1-0-0" in result.output

    reset_collector(collector)
    events = make_events(
        INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=live_server, INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR=vendor
    )
    events.track("dashboard_chart_viewed", user_id=1, label="activity", chart_weeks=4)
    assert events.snowplow.flush(timeout=10)
    (event,) = collector.get("/micro/good").json()
    assert len(event["contexts"]) == 2
    for context in event["contexts"]:
        # iglu:VENDOR/NAME/FORMAT/VERSION is the registry's schemas/VENDOR/NAME/FORMAT/VERSION
        path = tmp_path / "registry" / "schemas" / context["schema"].removeprefix("iglu:")
        schema = json.loads(path.read_text())
        assert schema["self"]["vendor"] == vendor
        assert not list(Draft7Validator(schema).iter_errors(context["data"]))


def test_the_default_vendor_is_the_one_events_use(app, tmp_path):
    registry = tmp_path / "registry"
    result = app.test_cli_runner().invoke(args=["internal-events", "iglu-export", str(registry)])
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(registry)) for p in registry.rglob("*") if p.is_file())
    assert files == [
        "schemas/com.internal_events_flask/service_ping_context/jsonschema/1-0-0",
        "schemas/com.internal_events_flask/standard_context/jsonschema/1-0-0",
    ]
