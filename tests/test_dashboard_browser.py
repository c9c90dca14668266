"""The dashboard in a real Chromium: a star clicked in one tab moves the overview's figures, chart and recent
events in another without a reload; the dictionary searches as you type; the ping downloads."""

import json

import pytest
from playwright.sync_api import expect

from webapp.internal_events.instance_uuid import instance_uuid
from webapp.internal_events.service_ping import service_ping

from helpers import sign_in_page
from servers import RedisServer, serving

STARS = "counts.count_total_project_starred"


@pytest.fixture
def admin_page(page, collecting_server):
    app, base = collecting_server
    app.config["INTERNAL_EVENTS_DASHBOARD_POLL_SECONDS"] = 0.3
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in_page(page, base, "admin")
    page.goto(f"{base}/admin/metrics/")
    yield page, app, base
    assert errors == []


def star_website(page, base):
    """Star, then unstar, the demo website in another tab: only starring tracks project_starred."""
    tab = page.context.new_page()
    tab.goto(f"{base}/acme/website")
    tab.click("text=☆ Star")
    tab.click("text=★ Unstar")
    # Closing a tab while its navigation commits can hang Chromium's close for good: let the page land first.
    expect(tab.get_by_text("☆ Star")).to_be_visible()
    tab.wait_for_load_state()
    tab.close()


def test_tracked_events_move_figures_chart_and_recent_events_without_a_reload(admin_page):
    page, app, base = admin_page
    page.evaluate("window.sameDocument = true")
    today = page.locator("#top-figures .figure", has_text="Events today").locator(".figure-value")
    before = int(today.inner_text())
    star_website(page, base)
    star_website(page, base)
    app.extensions["internal_events"].snowplow.flush(timeout=10)

    expect(page.locator("#top-events tr", has_text="project_starred")).to_contain_text("2")
    expect(today).not_to_have_text(str(before))
    assert int(today.inner_text()) >= before + 2  # the page views count too
    expect(page.locator("#main-chart rect").last).not_to_have_attribute("data-value", "0")
    starred = page.locator("#recent-events tr", has_text="project_starred")
    expect(starred).to_have_count(2)
    expect(starred.first).to_contain_text("admin")
    expect(starred.first).to_contain_text("acme/website")
    expect(page.locator("#dashboard-status")).to_contain_text("Updated")
    assert page.evaluate("window.sameDocument") is True

    page.click("text=Last 12 weeks")
    expect(page.locator("#main-chart rect")).to_have_count(12)


def test_a_poll_that_changes_nothing_highlights_nothing_and_the_chart_fills_its_panel(admin_page):
    page, app, base = admin_page
    events = app.extensions["internal_events"]
    assert events.flush(timeout=10) and events.snowplow.flush(timeout=10)  # nothing arrives after the page
    page.reload()
    expect(page.locator("#dashboard-status")).to_contain_text("Updated")
    page.wait_for_timeout(700)  # two more polls
    assert page.locator(".changed").count() == 0
    plot = page.locator("#main-chart svg").bounding_box()
    panel = page.locator("#main-chart").bounding_box()
    assert plot["x"] + plot["width"] == panel["x"] + panel["width"] and plot["width"] > 0.9 * panel["width"]
    newest = page.locator("#main-chart svg text").last.bounding_box()
    assert newest["x"] + newest["width"] <= plot["x"] + plot["width"]  # the last date is not cut off


def test_the_dictionary_searches_as_you_type_and_follows_tracking(admin_page):
    page, app, base = admin_page
    page.click("text=Metrics dictionary")
    page.evaluate("window.sameDocument = true")
    page.fill("#dashboard-query", "starred")
    expect(page.locator("tr[data-metric]")).to_have_count(1)
    expect(page.locator(f'tr[data-metric="{STARS}"]')).to_be_visible()
    expect(page.locator("#result-count")).to_contain_text("1 of")
    assert page.evaluate("location.search") == "?kind=metrics&q=starred&sort=name"
    star_website(page, base)
    expect(page.locator(f'tr[data-metric="{STARS}"] [data-frame="all"]')).to_have_text("1")
    page.fill("#dashboard-query", "no such thing anywhere")
    expect(page.locator("#dictionary-rows")).to_contain_text("No metrics match")
    assert page.evaluate("window.sameDocument") is True

    page.fill("#dashboard-query", "")
    page.select_option("select[name=sort]", "value_all")  # a menu submits the form
    page.wait_for_url("**sort=value_all**")
    expect(page.locator("tr[data-metric]").first).to_have_attribute("data-metric", STARS)


def test_the_service_ping_downloads_as_json(admin_page):
    page, app, _ = admin_page
    with page.expect_download() as download:
        page.click("#service-ping-download")
    assert download.value.suggested_filename.startswith("service_ping_")
    with open(download.value.path()) as downloaded, app.app_context():
        payload = json.load(downloaded)
        expected = service_ping(app.extensions["internal_events"], instance_uuid(app.instance_path))
    assert payload.pop("recorded_at") and expected.pop("recorded_at")
    assert payload == expected


def test_the_vue_widget_s_copy_button_reverts_like_the_others(page, collecting_server):
    _, base = collecting_server
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in_page(page, base, "bob")
    page.goto(f"{base}/acme/website")
    copy = page.locator(".project-widget button.copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(copy).to_have_text("Copy", timeout=3000)
    assert page.evaluate("navigator.clipboard.readText()").startswith("git clone ")


def test_with_redis_down_the_delivery_panel_says_so_and_the_live_update_goes_on(page, make_demo, tmp_path):
    redis_server = RedisServer(tmp_path / "redis", persistent=True).start()
    try:
        app = make_demo(REDIS_URL=redis_server.url)
        app.config["INTERNAL_EVENTS_DASHBOARD_POLL_SECONDS"] = 0.3
        with serving(app) as server:
            base = f"http://127.0.0.1:{server.server_port}"
            sign_in_page(page, base, "admin")
            page.goto(f"{base}/admin/metrics/")
            redis_fact = page.locator("#delivery-health dt:text-is('Redis') + dd")
            expect(redis_fact).to_have_text("reachable")

            redis_server.stop()
            expect(redis_fact).to_have_text("unreachable")
            expect(page.locator("#delivery-health [role=alert]")).to_contain_text("Redis cannot be reached")
            expect(page.locator("#dashboard-status")).to_contain_text("Redis cannot be reached")

            redis_server.start()
            expect(redis_fact).to_have_text("reachable")
            expect(page.locator("#dashboard-status")).to_contain_text("Updated")
    finally:
        redis_server.stop()
