"""The JavaScript client in a real Chromium against the running demo app, signed in as bob.

Each test checks what the server recorded (exactly, with ids) and that the page
logged no error. Beacons arrive asynchronously: the helpers flush the page's
tracker or poll the server, never sleep and hope.
"""

import time
from types import SimpleNamespace

import pytest

from webapp.demo.store import projects, users
from webapp.internal_events.contexts import STANDARD_CONTEXT
from webapp.testing import tracked_total, trigger_internal_events

from helpers import sign_in_page

API_PATH = "/api/v4/usage_data/track_events"
INSERT = "html => document.querySelector('main').insertAdjacentHTML('beforeend', html)"


@pytest.fixture
def site(collecting_server):
    """The demo app over HTTP, its own Snowplow collector; bob's ids on the acme/website project page."""
    app, base = collecting_server
    with app.app_context():
        bob = users.by_username("bob")
        website = projects.visible_by_path(bob, "acme", "website")
    ids = {"user_id": bob.id, "namespace_id": website.namespace_id, "project_id": website.id, "source": "browser"}
    return SimpleNamespace(app=app, url=base, project_url=f"{base}/acme/website", ids=ids)


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


@pytest.fixture
def project_page(site, page):
    """bob on the project page, its load events counted, so a test sees only what it does next."""
    sign_in_page(page, site.url)
    with trigger_internal_events(site.app, "project_viewed", "dashboard_chart_viewed", page=page, **site.ids):
        page.goto(site.project_url)
    page.wait_for_selector(".project-widget")
    return page


def poll(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_click_counts_once_in_redis_and_reaches_the_collector_with_the_page_ids(
    site, project_page, problems, live_session_for
):
    admin = live_session_for("admin")
    with trigger_internal_events(
        site.app, "clone_button_clicked", page=project_page, additional_properties={"label": "ssh"}, **site.ids
    ):
        project_page.click("text=Copy SSH")
    assert tracked_total(site.app, "clone_button_clicked") == 1
    assert site.app.extensions["internal_events"].snowplow.flush(timeout=10)
    (event,) = admin.get("/micro/good", params={"event": "clone_button_clicked"}).json()
    standard = {c["schema"]: c["data"] for c in event["contexts"]}[STANDARD_CONTEXT]
    assert standard["user_id"] == site.app.extensions["internal_events"].privacy.pseudonym(site.ids["user_id"])
    assert (standard["namespace_id"], standard["project_id"], standard["source"]) == (
        site.ids["namespace_id"],
        site.ids["project_id"],
        "browser",
    )
    assert (event["label"], event["action"]) == ("ssh", "clone_button_clicked")
    assert problems == []


def test_click_on_a_nested_child_counts(site, project_page, problems):
    project_page.evaluate(
        INSERT,
        """<button id="icon-copy" data-event-tracking="clone_button_clicked"
        data-event-label="https"><span class="icon"><b>⧉</b></span> Copy</button>""",
    )
    with trigger_internal_events(
        site.app, "clone_button_clicked", page=project_page, additional_properties={"label": "https"}, **site.ids
    ):
        project_page.click("#icon-copy b")
    assert problems == []


def test_clicks_count_even_when_the_page_stops_them_and_are_never_prevented(site, project_page, problems):
    project_page.evaluate(
        INSERT,
        """<button id="stubborn" data-event-tracking="help_link_clicked"
        data-event-label="stubborn">Help</button>""",
    )
    project_page.evaluate("""() => {
        document.getElementById('stubborn').addEventListener('click', (e) => e.stopPropagation());
        window.seen = [];
        document.getElementById('stubborn').addEventListener('click', (e) => seen.push(e.defaultPrevented));
    }""")
    with trigger_internal_events(
        site.app, "help_link_clicked", page=project_page, additional_properties={"label": "stubborn"}, **site.ids
    ):
        project_page.click("#stubborn")
    assert project_page.evaluate("() => seen") == [False]
    assert problems == []


def test_data_attributes_become_additional_properties(site, project_page, problems):
    project_page.evaluate(
        INSERT,
        """<button id="weeks" data-event-tracking="dashboard_chart_viewed"
        data-event-label="activity" data-event-property="weekly" data-event-value="12"
        data-event-additional='{"chart_weeks": 12}'>12 weeks</button>""",
    )
    properties = {"label": "activity", "property": "weekly", "value": 12, "chart_weeks": 12}
    with trigger_internal_events(
        site.app, "dashboard_chart_viewed", page=project_page, additional_properties=properties, **site.ids
    ):
        project_page.click("#weeks")
    assert problems == []


def test_load_elements_count_once_on_load_and_clicks_on_them_do_not_count(site, page, problems):
    sign_in_page(page, site.url)
    with trigger_internal_events(site.app, "project_viewed", "dashboard_chart_viewed", page=page, **site.ids):
        page.goto(site.project_url)
        page.click(".chart h2")
        page.click(".project h1")
    assert tracked_total(site.app, "project_viewed") == 1
    assert tracked_total(site.app, "dashboard_chart_viewed") == 1
    assert problems == []


def test_element_inserted_later_counts_once_even_when_moved(site, project_page, problems):
    with trigger_internal_events(site.app, "project_settings_viewed", page=project_page, **site.ids):
        project_page.evaluate(
            INSERT,
            """<div><p id="late" data-event-tracking="project_settings_viewed"
            data-event-tracking-load="true">Settings preview</p></div>""",
        )
        project_page.wait_for_selector("#late")
        project_page.evaluate("() => InternalEvents.flush()")
        project_page.evaluate("() => document.querySelector('main').prepend(document.getElementById('late'))")
    assert tracked_total(site.app, "project_settings_viewed") == 1
    assert problems == []


def test_element_inserted_later_counts_when_clicked(site, project_page, problems):
    project_page.evaluate(
        INSERT,
        """<a id="late-help" href="#" data-event-tracking="help_link_clicked"
        data-event-label="late">Help</a>""",
    )
    with trigger_internal_events(
        site.app, "help_link_clicked", page=project_page, additional_properties={"label": "late"}, **site.ids
    ):
        project_page.click("#late-help")
    assert problems == []


def test_vue_mixin_counts_from_a_method_and_from_the_template(site, project_page, problems):
    widget = project_page.locator(".project-widget")
    assert "Website" in widget.inner_text()
    assert "New here? Read about cloning, projects and groups." in widget.inner_text()
    with trigger_internal_events(
        site.app, "clone_button_clicked", page=project_page, additional_properties={"label": "https"}, **site.ids
    ):
        widget.get_by_role("button", name="HTTPS").click()
        widget.get_by_role("button", name="Copy").click()  # the component's method calls this.trackEvent
    assert widget.locator(".command").inner_text() == f"git clone {site.project_url}.git"
    with trigger_internal_events(
        site.app, "help_link_clicked", page=project_page, additional_properties={"label": "groups"}, **site.ids
    ):
        widget.get_by_role("link", name="groups").click()  # @click="trackEvent(...)" in the template, then away
        project_page.wait_for_url("**/help#groups")
    assert tracked_total(site.app, "clone_button_clicked") == 1
    assert tracked_total(site.app, "help_link_clicked") == 1
    assert problems == []


def test_raw_track_event_calls_count_from_the_global_and_from_the_module(site, project_page, problems):
    with trigger_internal_events(
        site.app,
        "clone_button_clicked",
        "clone_button_clicked",
        page=project_page,
        additional_properties={"label": "ssh"},
        **site.ids,
    ):
        same = project_page.evaluate("""async () => {
            InternalEvents.trackEvent('clone_button_clicked', { label: 'ssh' });
            const module = await import('~/tracking');
            module.InternalEvents.track_event('clone_button_clicked', { label: 'ssh' });
            return module.InternalEvents === window.InternalEvents;
        }""")
    assert same, "the module and the script bundle must share one tracker"
    assert tracked_total(site.app, "clone_button_clicked") == 2
    assert problems == []


def test_events_close_together_share_one_request(site, project_page, problems, api_requests):
    api_requests.clear()
    with trigger_internal_events(
        site.app, "clone_button_clicked", "clone_button_clicked", "help_link_clicked", page=project_page, **site.ids
    ):
        project_page.evaluate("""() => {
            for (const button of document.querySelectorAll('[data-copy-target]')) button.click();
            InternalEvents.trackEvent('help_link_clicked', { label: 'batch' });
        }""")
    assert [[e["event"] for e in body["events"]] for body in api_requests] == [
        ["clone_button_clicked", "clone_button_clicked", "help_link_clicked"]
    ]
    assert problems == []


def test_a_tracked_link_that_navigates_away_is_still_counted(site, project_page, problems):
    with trigger_internal_events(
        site.app, "help_link_clicked", page=project_page, additional_properties={"label": "usage-data"}, **site.ids
    ):
        project_page.click("footer >> text=What usage data is collected?")
        project_page.wait_for_url("**/help#usage-data")
    assert problems == []


def test_failed_sends_are_retried_and_count_once(site, project_page, problems):
    failures = []

    def fail_first(route):
        if failures:
            route.continue_()
        else:
            failures.append(route.request.url)
            route.fulfill(status=503, json={"error": "try again"})

    project_page.route(f"**{API_PATH}", fail_first)
    with trigger_internal_events(site.app, "clone_button_clicked", page=project_page, **site.ids):
        project_page.click("text=Copy HTTPS")
    assert len(failures) == 1
    assert tracked_total(site.app, "clone_button_clicked") == 1
    assert [p for p in problems if "status of 503" not in p] == []  # the browser logs the failed request itself


def test_refused_and_invalid_events_warn_and_never_break_the_page(site, project_page, problems, warnings, api_requests):
    api_requests.clear()
    with trigger_internal_events(site.app, page=project_page):
        results = project_page.evaluate("""() => [
            InternalEvents.trackEvent('clone_button_clicked', { undeclared: 1 }),
            InternalEvents.trackEvent('no_such_event'),
            InternalEvents.trackEvent(42),
            InternalEvents.trackEvent('help_link_clicked', { label: 5 }),
            InternalEvents.trackEvent('help_link_clicked', 'not an object'),
            InternalEvents.trackEvent('dashboard_chart_viewed', { chart_weeks: 12n }),
            (() => { const loop = {}; loop.self = loop; return InternalEvents.trackEvent('help_link_clicked', loop); })(),
        ]""")
    assert results == [None] * 7
    assert [[e["event"] for e in body["events"]] for body in api_requests] == [["clone_button_clicked"]]
    poll(lambda: any('"clone_button_clicked" refused' in w and "undeclared" in w for w in warnings))
    assert any('unknown event "no_such_event"' in w for w in warnings)
    assert any('label of "help_link_clicked" must be a string' in w for w in warnings)
    assert any("BigInt" in w for w in warnings) and any("circular" in w for w in warnings)
    assert tracked_total(site.app, "clone_button_clicked") == 0
    assert problems == []


def test_js_test_helper_records_calls_instead_of_sending(site, project_page, problems, api_requests):
    api_requests.clear()
    with trigger_internal_events(site.app, page=project_page):
        calls = project_page.evaluate("""async () => {
            const { recordInternalEvents } = await import('~/tracking/testing.js');
            const recorder = recordInternalEvents(InternalEvents);
            document.querySelector('[data-copy-target="clone-ssh"]').click();
            document.querySelector('.project-widget .copy').click();
            InternalEvents.track_event('help_link_clicked', { label: 'x' });
            recorder.restore();
            return recorder.calls;
        }""")
    assert calls == [
        {"event": "clone_button_clicked", "additionalProperties": {"label": "ssh"}},
        {"event": "clone_button_clicked", "additionalProperties": {"label": "ssh"}},
        {"event": "help_link_clicked", "additionalProperties": {"label": "x"}},
    ]
    assert api_requests == []
    with trigger_internal_events(site.app, "clone_button_clicked", page=project_page):
        project_page.click("text=Copy SSH")  # restored: sent again
    assert problems == []


def test_loading_the_client_twice_does_not_count_twice(site, project_page, problems):
    project_page.evaluate("""() => new Promise((resolve, reject) => {
        const again = document.createElement('script');
        again.src = document.querySelector('script[src*="/tracking."]').src;
        again.onload = resolve;
        again.onerror = reject;
        document.body.append(again);
    })""")
    with trigger_internal_events(site.app, "clone_button_clicked", page=project_page, **site.ids):
        project_page.click("text=Copy SSH")
    assert problems == []


def test_signed_out_visitors_send_nothing(site, page, problems, api_requests):
    with trigger_internal_events(site.app, page=page):
        page.goto(site.project_url)
        page.wait_for_selector(".project-widget")
        page.click("text=Copy SSH")
        page.locator(".project-widget .copy").click()
    assert api_requests == []
    assert problems == []
