import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from webapp import create_app
from webapp.internal_events.instance_uuid import instance_uuid
from webapp.internal_events.service_ping import nest

from helpers import sign_in
from servers import RedisServer


def test_key_paths_become_nested_objects():
    assert nest({"a.b.c": 1, "a.b.d": 2, "e": 3}) == {"a": {"b": {"c": 1, "d": 2}}, "e": 3}


def test_cli_prints_every_active_metric(app):
    with app.app_context():
        app.extensions["internal_events"].track("project_starred", user_id=1, project_id=2, namespace_id=3)
    result = app.test_cli_runner().invoke(args=["internal-events", "service-ping"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["counts"]["count_total_project_starred"] == 1
    assert payload["counts"]["count_total_project_starred_weekly"] == 1
    assert payload["redis_hll_counters"]["count_distinct_user_id_from_project_created_monthly"] == 0
    metrics = app.extensions["internal_events"].definitions.metrics
    flat = sum(len(group) for group in payload.values() if isinstance(group, dict))
    assert flat == len(metrics)


PATTERNS = Path(__file__).parent / "fixtures" / "gitlab_patterns"


@pytest.fixture
def patterns_app(config, tmp_path):
    folder = tmp_path / "patterns"
    shutil.copytree(PATTERNS, folder)
    return create_app({**config, "INTERNAL_EVENTS_DEFINITIONS": str(folder)})


def ping(app):
    result = app.test_cli_runner().invoke(args=["internal-events", "service-ping"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_gitlab_s_shapes_broken_reported_removed_not_list_suffixes_float_sums(patterns_app):
    events = patterns_app.extensions["internal_events"]
    events.track("code_suggestion_shown", user_id=1, namespace_id=2, value=3, label="python")
    events.track("review_requested", user_id=1, project_id=1, namespace_id=2, value=2, property="maintainer")
    payload = ping(patterns_app)
    sums = payload["sums"]
    assert sums["sum_value_from_code_suggestion_shown"] == 5.0
    assert all(isinstance(value, float) for value in sums.values())
    counts = payload["counts"]
    assert counts["count_total_review_requested_broken"] == 1  # broken: reported
    assert not any("event_long_gone" in key for key in counts)  # removed: not
    # A one-element list `[7d]` gets its suffix.
    assert payload["redis_hll_counters"]["count_distinct_property_from_review_requested_weekly"] == 1
    assert "count_distinct_property_from_review_requested" not in payload["redis_hll_counters"]


def test_the_payload_carries_recorded_at_a_stable_uuid_and_the_version(app, config):
    first, second = ping(app), ping(app)
    assert first["uuid"] == second["uuid"] and str(uuid.UUID(first["uuid"])) == first["uuid"]
    assert first["version"] == version("internal-events-flask")
    recorded = datetime.fromisoformat(first["recorded_at"])
    assert abs(recorded - datetime.now(UTC)) < timedelta(minutes=1)
    # Another process of the same instance reports the same uuid; another instance its own.
    other_process = create_app(config)
    assert ping(other_process)["uuid"] == first["uuid"]
    assert instance_uuid(Path(app.instance_path) / "elsewhere") != first["uuid"]


def test_metrics_that_cannot_be_read_are_minus_one_and_the_payload_still_answers(make_demo, tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    try:
        app = make_demo(REDIS_URL=server.url, WEBAPP_ENV="production")
        app.extensions["internal_events"].track("project_starred", user_id=1, project_id=2, namespace_id=3)
        assert ping(app)["counts"]["count_total_project_starred"] == 1
        server.process.kill()  # SIGKILL: Redis is gone
        server.process.wait(10)
        payload = ping(app)
        metrics = app.extensions["internal_events"].definitions.metrics
        values = [payload[m.key_path.split(".")[0]][m.key_path.split(".")[1]] for m in metrics]
        assert values == [-1] * len(metrics)
        assert payload["uuid"] and payload["version"]
        response = sign_in(app.test_client(), "admin").get("/api/v4/usage_data/service_ping")
        assert response.status_code == 200
        assert response.get_json()["counts"]["count_total_project_starred"] == -1
    finally:
        server.stop()
