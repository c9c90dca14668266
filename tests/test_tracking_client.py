"""The JavaScript client in a real Chromium against the running app, signed in."""

import hashlib
import threading
import time
from types import SimpleNamespace

import pytest
import requests
from werkzeug.serving import make_server

import tracking_harness
from webapp import create_app
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.testing import tracked_total, trigger_internal_events

USER, NAMESPACE, PROJECT = 7, 3, 11
IDS = {"user_id": USER, "namespace_id": NAMESPACE, "project_id": PROJECT, "source": "browser"}
API_PATH = "/api/v4/usage_data/track_events"


def serve(config, **overrides):
    """The app over HTTP, emitting Snowplow events to its own collector; returns (site, stop)."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app({**config, "SNOWPLOW_COLLECTOR_URL": url, **overrides})
    app.register_blueprint(tracking_harness.bp)
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        app.extensions["internal_events"].snowplow.close()
        server.shutdown()
        thread.join(5)

    return SimpleNamespace(url=url, app=app), stop


@pytest.fixture
def site(config):
    site, stop = serve(config, HARNESS_USER_ID=USER, HARNESS_NAMESPACE_ID=NAMESPACE, HARNESS_PROJECT_ID=PROJECT)
    yield site
    stop()


@pytest.fixture
def problems(page):
    """Page errors and console errors; every test ends by asserting there were none."""
    seen = []
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and seen.append(f"console: {message.text}"))
    return seen


@pytest.fixture
def warnings(page):
    seen = []
    page.on("console", lambda message: message.type == "warning" and seen.append(message.text))
    return seen


@pytest.fixture
def api_requests(page):
    """Bodies of the requests the page sent to the usage-data API."""
    sent = []
    page.on("request", lambda request: API_PATH in request.url and sent.append(request.post_data_json))
    return sent


def open_project(site, page):
    """Open the project page and let its load events go out, so a test sees only what it does next."""
    with trigger_internal_events(site.app, "dashboard_chart_viewed", page=page, **IDS):
        page.goto(f"{site.url}/harness/project")
    page.wait_for_selector(".project-widget")


def poll(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def collected(site, action):
    assert site.app.extensions["internal_events"].snowplow.flush(timeout=10)
    return requests.get(f"{site.url}/micro/good", params={"event": action}, timeout=5).json()


def test_click_counts_once_in_redis_and_reaches_the_collector_with_the_page_ids(site, page, problems):
    open_project(site, page)
    requests.get(f"{site.url}/micro/reset", timeout=5)
    with trigger_internal_events(site.app, "project_starred", page=page, **IDS):
        page.click("#star")
    assert tracked_total(site.app, "project_starred") == 1
    (event,) = collected(site, "project_starred")
    standard = {c["schema"]: c["data"] for c in event["contexts"]}[STANDARD_CONTEXT]
    assert standard["user_id"] == hashlib.sha256(str(USER).encode()).hexdigest()
    assert (standard["namespace_id"], standard["project_id"], standard["source"]) == (NAMESPACE, PROJECT, "browser")
    assert problems == []


def test_click_on_a_nested_child_counts(site, page, problems):
    open_project(site, page)
    with trigger_internal_events(site.app, "help_link_clicked", page=page, additional_properties={"label": "docs"},
                                 **IDS):
        page.click("#nested b")
    assert tracked_total(site.app, "help_link_clicked") == 1
    assert problems == []


def test_data_attributes_become_additional_properties(site, page, problems):
    open_project(site, page)
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        `<button id="chart" data-event-tracking="dashboard_chart_viewed" data-event-label="activity"
           data-event-property="weekly" data-event-value="12" data-event-additional='{"chart_weeks": 12}'>
           Chart</button>`)""")
    properties = {"label": "activity", "property": "weekly", "value": 12, "chart_weeks": 12}
    with trigger_internal_events(site.app, "dashboard_chart_viewed", page=page, additional_properties=properties):
        page.click("#chart")
    assert problems == []


def test_load_element_counts_once_on_load_and_clicks_on_it_do_not_count(site, page, problems):
    with trigger_internal_events(site.app, "dashboard_chart_viewed", page=page,
                                 additional_properties={"label": "activity"}, **IDS):
        page.goto(f"{site.url}/harness/project")
        page.click("[data-event-tracking-load]")
    assert tracked_total(site.app, "dashboard_chart_viewed") == 1
    assert problems == []


def test_element_inserted_later_counts_once_even_when_moved(site, page, problems):
    open_project(site, page)
    with trigger_internal_events(site.app, "project_viewed", page=page, **IDS):
        page.evaluate("""() => {
            const card = document.createElement('div');
            card.innerHTML = '<p id="late" data-event-tracking="project_viewed" data-event-tracking-load="true">Hi</p>';
            document.body.append(card);
        }""")
        page.wait_for_selector("#late")
        page.evaluate("() => InternalEvents.flush()")
        page.evaluate("() => document.body.prepend(document.getElementById('late'))")  # moved: not a new element
    assert tracked_total(site.app, "project_viewed") == 1
    assert problems == []


def test_element_inserted_later_counts_when_clicked(site, page, problems):
    open_project(site, page)
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<button id="late-star" data-event-tracking="project_starred">Star</button>')""")
    with trigger_internal_events(site.app, "project_starred", page=page, **IDS):
        page.click("#late-star")
    assert problems == []


def test_vue_mixin_counts_from_a_method_and_from_the_template(site, page, problems):
    open_project(site, page)
    with trigger_internal_events(site.app, "clone_button_clicked", page=page, additional_properties={"label": "https"},
                                 **IDS):
        page.click(".project-widget button:text('HTTPS')")
        page.click(".project-widget .copy")  # the component's method calls this.trackEvent
    assert page.text_content(".project-widget .command").startswith(f"git clone {site.url}/")
    with trigger_internal_events(site.app, "help_link_clicked", page=page, additional_properties={"label": "groups"},
                                 **IDS):
        page.click(".project-widget a:text('groups')")  # @click="trackEvent(...)" in the template, then navigates
        page.wait_for_url("**/help#groups")
    assert tracked_total(site.app, "clone_button_clicked") == 1
    assert tracked_total(site.app, "help_link_clicked") == 1
    assert problems == []


def test_raw_track_event_calls_count_from_the_global_and_from_the_module(site, page, problems):
    open_project(site, page)
    with trigger_internal_events(site.app, "issue_created", "issue_created", page=page, **IDS):
        same = page.evaluate("""async () => {
            InternalEvents.trackEvent('issue_created');
            const module = await import('~/tracking');
            module.InternalEvents.track_event('issue_created');
            return module.InternalEvents === window.InternalEvents;
        }""")
    assert same, "the module and the script bundle must share one tracker"
    assert tracked_total(site.app, "issue_created") == 2
    assert problems == []


def test_events_close_together_share_one_request(site, page, problems, api_requests):
    open_project(site, page)
    api_requests.clear()
    with trigger_internal_events(site.app, "project_starred", "help_link_clicked", "issue_created", page=page, **IDS):
        page.evaluate("""() => {
            document.getElementById('star').click();
            document.getElementById('nested').click();
            InternalEvents.trackEvent('issue_created');
        }""")
    assert [[e["event"] for e in body["events"]] for body in api_requests] == [
        ["project_starred", "help_link_clicked", "issue_created"]
    ]
    assert problems == []


def test_a_tracked_link_that_navigates_away_is_still_counted(site, page, problems):
    open_project(site, page)
    with trigger_internal_events(site.app, "help_link_clicked", page=page, additional_properties={"label": "leave"},
                                 **IDS):
        page.click("#leave")
        page.wait_for_selector("#other")
    assert page.url.endswith("/harness/other")
    assert problems == []


def test_failed_sends_are_retried_and_count_once(site, page, problems):
    open_project(site, page)
    failures = []

    def fail_first(route):
        if not failures:
            failures.append(route.request.url)
            route.fulfill(status=503, json={"error": "try again"})
        else:
            route.continue_()

    page.route(f"**{API_PATH}", fail_first)
    with trigger_internal_events(site.app, "project_starred", page=page, **IDS):
        page.click("#star")
    assert len(failures) == 1
    assert tracked_total(site.app, "project_starred") == 1
    assert [p for p in problems if "status of 503" not in p] == []  # the browser logs the failed request itself


def test_refused_and_invalid_events_warn_and_never_break_the_page(site, page, problems, warnings, api_requests):
    open_project(site, page)
    api_requests.clear()
    with trigger_internal_events(site.app, page=page):
        results = page.evaluate("""() => [
            InternalEvents.trackEvent('project_starred', { undeclared: 1 }),
            InternalEvents.trackEvent('no_such_event'),
            InternalEvents.trackEvent(42),
            InternalEvents.trackEvent('help_link_clicked', { label: 5 }),
            InternalEvents.trackEvent('help_link_clicked', 'not an object'),
        ]""")
    assert results == [None] * 5
    assert [[e["event"] for e in body["events"]] for body in api_requests] == [["project_starred"]]
    poll(lambda: any("refused" in w and "undeclared" in w for w in warnings))
    assert any('unknown event "no_such_event"' in w for w in warnings)
    assert any("label of \"help_link_clicked\" must be a string" in w for w in warnings)
    assert tracked_total(site.app, "project_starred") == 0
    assert problems == []


def test_js_test_helper_records_calls_instead_of_sending(site, page, problems, api_requests):
    open_project(site, page)
    api_requests.clear()
    with trigger_internal_events(site.app, page=page):
        calls = page.evaluate("""async () => {
            const { recordInternalEvents } = await import('~/tracking/testing.js');
            const recorder = recordInternalEvents(InternalEvents);
            document.getElementById('star').click();
            document.querySelector('.project-widget .copy').click();
            InternalEvents.track_event('issue_created', { label: 'x' });
            recorder.restore();
            return recorder.calls;
        }""")
    assert calls == [
        {"event": "project_starred", "additionalProperties": {}},
        {"event": "clone_button_clicked", "additionalProperties": {"label": "ssh"}},
        {"event": "issue_created", "additionalProperties": {"label": "x"}},
    ]
    assert api_requests == []
    with trigger_internal_events(site.app, "project_starred", page=page):
        page.click("#star")  # restored: sent again
    assert problems == []


def test_loading_the_client_twice_does_not_count_twice(site, page, problems):
    open_project(site, page)
    page.evaluate("""() => new Promise((resolve, reject) => {
        const again = document.createElement('script');
        again.src = document.querySelector('script[src*="/tracking."]').src;
        again.onload = resolve;
        again.onerror = reject;
        document.body.append(again);
    })""")
    with trigger_internal_events(site.app, "project_starred", page=page, **IDS):
        page.click("#star")
    assert problems == []


def test_signed_out_visitors_send_nothing(config, page, problems, api_requests):
    site, stop = serve(config)
    try:
        with trigger_internal_events(site.app, page=page):
            page.goto(f"{site.url}/harness/project")
            page.wait_for_selector(".project-widget")
            page.click("#star")
            page.click(".project-widget .copy")
        assert api_requests == []
    finally:
        stop()
    assert problems == []
