"""Internal Events as a Flask extension: a host app of its own adopts it, and the core needs nothing of the demo."""

import json
import re
import subprocess
import sys

import pytest
from flask import Flask

from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events import InternalEvents, InvalidIdentifierError, NotInitialized, current, track_event
from webapp.internal_events.ids import MAX_ID, MIN_ID
from webapp.internal_events.service_ping import metric_values

import extension_app

BROWSER = {"Accept": "text/html"}
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
# The demo product's modules: no module of the extension may need them.
DEMO_MODULES = ("webapp.demo",)


@pytest.fixture
def host(config):
    app = extension_app.create_app(config)
    yield app
    app.extensions["internal_events"].close()


def signed_in(app, member_id):
    client = app.test_client()
    assert client.post(f"/sign_in/{member_id}").status_code == 204
    return client


def track(client, body):
    return client.post(
        "/api/v4/usage_data/track_event", data=json.dumps(body), headers=SAME_ORIGIN, content_type="application/json"
    )


def counted(app):
    with app.app_context():
        return {key: value for key, value in metric_values(current()).items() if value}


def test_the_host_app_records_only_for_its_signed_in_members_and_their_repositories(host):
    event = {"event": "project_viewed", "project_id": 70}
    assert track(host.test_client(), event).status_code == 401
    assert track(signed_in(host, 8), {**event, "project_id": 71}).status_code == 404
    assert counted(host) == {}
    answer = track(signed_in(host, 8), event)
    assert answer.status_code == 200 and answer.get_json() == {"event": "project_viewed", "accepted": True}
    values = counted(host)
    assert values and all(value == 1 for value in values.values())


def test_the_host_app_serves_the_service_ping_to_its_administrators_only(host):
    with host.test_request_context():
        track_event("project_viewed", user_id=8, project_id=70, namespace_id=700)
    assert signed_in(host, 8).get("/api/v4/usage_data/service_ping").status_code == 403
    ping = signed_in(host, 7).get("/api/v4/usage_data/service_ping")
    assert ping.status_code == 200
    assert "counts" in ping.get_json() or "redis_hll_counters" in ping.get_json()


def test_the_host_app_shows_its_administrators_the_dashboard_in_the_extensions_own_layout(host):
    with host.test_request_context():
        track_event("project_viewed", user_id=8, project_id=70, namespace_id=700)
    admin = signed_in(host, 7)
    overview = admin.get("/admin/metrics/", headers=BROWSER)
    assert overview.status_code == 200
    html = overview.get_data(as_text=True)
    assert "<h1>Metrics overview</h1>" in html and 'href="/admin/metrics/event/project_viewed"' in html
    assert '<header class="topbar">' not in html  # the demo's layout stays the demo's
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+dashboard[^"]*)"', html).group(1)
    assert admin.get(stylesheet).status_code == 200
    dictionary = admin.get("/admin/metrics/dictionary?q=project_viewed", headers=BROWSER)
    assert dictionary.status_code == 200
    assert "redis_hll_counters.count_distinct_user_id_from_project_viewed" in dictionary.get_data(as_text=True)


def test_a_host_restyles_the_dashboard_with_its_own_layout_of_the_same_name(config, tmp_path):
    layout = tmp_path / "templates" / "internal_events" / "layout.html"
    layout.parent.mkdir(parents=True)
    layout.write_text('<body class="ours">{% block content %}{% endblock %}{% block scripts %}{% endblock %}</body>')
    app = extension_app.create_app(config, template_folder=str(tmp_path / "templates"))
    try:
        html = signed_in(app, 7).get("/admin/metrics/", headers=BROWSER).get_data(as_text=True)
        refused = signed_in(app, 8).get("/admin/metrics/", headers=BROWSER).get_data(as_text=True)
    finally:
        app.extensions["internal_events"].close()
    assert html.startswith('<body class="ours">') and "<h1>Metrics overview</h1>" in html
    assert refused.startswith('<body class="ours">') and "Error 403" in refused


def test_the_host_app_refuses_the_dashboard_to_others_with_its_error_page(host):
    refused = signed_in(host, 8).get("/admin/metrics/dictionary", headers=BROWSER)
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "Error 403" in refused.get_data(as_text=True) and "Administrators only." in refused.get_data(as_text=True)
    assert host.test_client().get("/admin/metrics/", headers=BROWSER).status_code == 401


def test_the_host_apps_members_opt_out_without_a_database_of_its_own_and_every_process_sees_it(config, tmp_path):
    """Opt-outs live in the extension's own file in the instance folder, shared by the instance's processes."""
    settings = {key: value for key, value in config.items() if key != "INTERNAL_EVENTS_OPT_OUTS_PATH"}
    instance = tmp_path / "host-instance"
    app = extension_app.create_app(settings, instance_path=str(instance))
    try:
        assert app.test_client().post("/opt_out").status_code == 401
        assert signed_in(app, 8).post("/opt_out").status_code == 204
    finally:
        app.extensions["internal_events"].close()
    assert (instance / "internal-events-opt-outs.sqlite3").is_file()
    script = f"""
import json, sys
sys.path.insert(0, {str(PROJECT_ROOT / "tests")!r})
import extension_app
from webapp.internal_events import current
app = extension_app.create_app(json.loads({json.dumps(settings)!r}), instance_path={str(instance)!r})
with app.app_context():
    opt_outs = current().privacy.opt_outs
    print(opt_outs.has_opted_out(8), opt_outs.has_opted_out(7))
app.extensions["internal_events"].close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "False"]


def test_init_app_fills_the_settings_the_host_left_unset_and_keeps_its_own(host, config):
    assert host.config["INTERNAL_EVENTS_KEY_PREFIX"] == config["INTERNAL_EVENTS_KEY_PREFIX"]
    assert host.config["INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT"] == 600
    assert isinstance(host.extensions["internal_events.extension"], InternalEvents)
    assert "internal-events" in host.cli.commands


def test_using_it_before_init_app_says_what_to_do():
    bare = Flask("bare")
    with bare.app_context(), pytest.raises(NotInitialized, match=r"InternalEvents\(app\)"):
        current()


def test_a_missing_host_callback_is_named(config):
    app = Flask("no_callbacks")
    app.config.update(config)
    InternalEvents(app)
    try:
        with app.test_request_context(), pytest.raises(NotInitialized, match="user_loader"):
            app.extensions["internal_events.extension"].current_user()
    finally:
        app.extensions["internal_events"].close()


def test_the_extension_and_its_host_app_run_without_the_demo(config):
    """Every demo module is made unimportable; the extension's views, CLI and tracking still work."""
    script = f"""
import sys
for name in {DEMO_MODULES!r}:
    sys.modules[name] = None
sys.path.insert(0, {str(PROJECT_ROOT / "tests")!r})
import extension_app
app = extension_app.create_app(__import__("json").loads({json.dumps(config)!r}))
client = app.test_client()
print(client.post("/api/v4/usage_data/track_event", json={{"event": "help_link_clicked"}}).status_code)
client.post("/sign_in/7")
print(client.get("/admin/metrics/dictionary").status_code)
app.extensions["internal_events"].close()
print(sorted(name for name, module in sys.modules.items() if module and name.startswith("webapp.")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    status, dashboard, modules = done.stdout.splitlines()[-3:]
    assert (status, dashboard) == ("401", "200")
    assert all(f"'webapp.{name}'" in modules for name in ("api.usage_data", "collector", "dashboard"))
    assert "'webapp.demo" not in modules


def test_ids_follow_one_rule_in_the_core_the_api_and_the_snowplow_schema(events, host):
    """An id the collector would file as bad is refused everywhere before anything is counted."""
    schema = json.loads((PROJECT_ROOT / "webapp/internal_events/schemas/contexts/standard_context.json").read_text())
    for field in ("namespace_id", "project_id"):
        assert (schema["properties"][field]["minimum"], schema["properties"][field]["maximum"]) == (MIN_ID, MAX_ID)
    with pytest.raises(InvalidIdentifierError, match="from 0 to 2147483647"):
        events.prepare("project_viewed", user_id=8, project_id=MAX_ID + 1, namespace_id=1)
    assert events.prepare("project_viewed", user_id=0, project_id=MAX_ID, namespace_id=0).project_id == MAX_ID
    answer = track(signed_in(host, 8), {"event": "project_viewed", "project_id": MAX_ID + 1})
    assert answer.status_code == 400 and "from 0 to 2147483647" in answer.get_json()["error"]
