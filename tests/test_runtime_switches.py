"""The operator's runtime switches: Snowplow and the service ping, shown in `status` and the dashboard."""

import json
import time

import pytest

from webapp.demo.config import ConfigError
from webapp.testing import tracked_total

from helpers import reset_collector, sign_in


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["internal-events", *args])


def status_of(app):
    result = cli(app, "status")
    return json.loads(result.output)["privacy"]


def test_snowplow_switched_off_at_runtime_sends_nothing_and_still_counts(
    collecting_server, make_demo, live_session_for
):
    app, base = collecting_server
    events = app.extensions["internal_events"]
    admin = live_session_for("admin")
    reset_collector(admin)
    other_process = make_demo(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=base).extensions["internal_events"]
    assert other_process.privacy.switches.is_on("snowplow")

    result = cli(app, "switch", "snowplow", "off")
    assert result.exit_code == 0 and "snowplow is off (set by runtime switch)" in result.output
    events.track("admin_area_viewed", user_id=1)
    admin.get("/admin/")  # a server-side track_event while serving a request
    assert tracked_total(app, "admin_area_viewed") == 2
    assert events.snowplow.flush(timeout=10)
    assert admin.get("/micro/good").json() == []
    assert status_of(app)["switches"]["snowplow"] == {"on": False, "set_by": "runtime switch"}
    page = admin.get("/admin/metrics/").text
    assert '<span data-switch="snowplow" data-on="false">Snowplow: <strong>off</strong> (runtime switch)' in page
    time.sleep(other_process.privacy.switches.check_seconds)
    assert not other_process.privacy.switches.is_on("snowplow")  # every process follows

    assert cli(app, "switch", "snowplow", "default").exit_code == 0
    events.track("admin_area_viewed", user_id=1)
    assert events.snowplow.flush(timeout=10)
    assert [e["action"] for e in admin.get("/micro/good").json()] == ["admin_area_viewed"]
    assert status_of(app)["switches"]["snowplow"] == {"on": True, "set_by": "configuration"}


def test_snowplow_off_by_configuration(make_events):
    events = make_events(INTERNAL_EVENTS_SNOWPLOW=False)
    assert events.privacy.switches.states()["snowplow"] == {"on": False, "set_by": "configuration"}


def test_the_service_ping_switched_off_answers_403_and_the_cli_refuses(demo):
    admin = sign_in(demo.test_client(), "admin")
    assert admin.get("/api/v4/usage_data/service_ping").status_code == 200
    assert cli(demo, "switch", "service_ping", "off").exit_code == 0

    answer = admin.get("/api/v4/usage_data/service_ping")
    assert answer.status_code == 403 and "service ping is turned off" in answer.get_json()["error"]
    result = cli(demo, "service-ping")
    assert result.exit_code == 1 and "service ping is turned off" in result.output
    assert status_of(demo)["switches"]["service_ping"] == {"on": False, "set_by": "runtime switch"}
    assert 'data-switch="service_ping" data-on="false"' in admin.get("/admin/metrics/").get_data(as_text=True)

    assert cli(demo, "switch", "service_ping", "on").exit_code == 0
    assert admin.get("/api/v4/usage_data/service_ping").status_code == 200


def test_an_unknown_privacy_signal_policy_is_refused(make_events):
    with pytest.raises(ConfigError, match="gpc_and_dnt, gpc, ignore"):
        make_events(INTERNAL_EVENTS_PRIVACY_SIGNALS="sometimes")
