import json

from webapp.internal_events.service_ping import nest


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
