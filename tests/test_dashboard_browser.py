"""The dashboard in a real Chromium: a star clicked in one tab moves the numbers, the chart and the
recent events in another, without reloading it; search filters as you type; the ping downloads."""

import json

import pytest
from conftest import sign_in_page
from playwright.sync_api import expect

from webapp.internal_events.instance_uuid import instance_uuid
from webapp.internal_events.service_ping import service_ping

STARS = "counts.count_total_project_starred"


@pytest.fixture
def admin_page(page, collecting_server):
    app, base = collecting_server
    app.config["DASHBOARD_POLL_SECONDS"] = 0.3
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


def test_tracked_events_move_numbers_chart_and_recent_events_without_a_reload(admin_page):
    page, app, base = admin_page
    page.evaluate("window.sameDocument = true")
    row = page.locator(f'tr[data-metric="{STARS}"]')
    last_week = row.locator("rect").last
    expect(row.locator('[data-frame="7d"]')).to_have_text("0")
    expect(last_week).to_have_attribute("data-value", "0")
    assert float(last_week.get_attribute("height")) == 0

    star_website(page, base)
    star_website(page, base)
    app.extensions["internal_events"].snowplow.flush(timeout=10)

    for frame in ("7d", "28d", "all"):
        expect(row.locator(f'[data-frame="{frame}"]')).to_have_text("2")
    expect(page.locator('tr[data-event="project_starred"] [data-frame="all"]')).to_have_text("2")
    expect(last_week).to_have_attribute("data-value", "2")
    assert float(last_week.get_attribute("height")) > 0
    starred = page.locator("#recent-events tr", has_text="project_starred")
    expect(starred).to_have_count(2)
    expect(starred.first).to_contain_text("admin")
    expect(page.locator("#dashboard-status")).to_contain_text("Updated")
    assert page.evaluate("window.sameDocument") is True


def test_search_filters_rows_as_you_type(admin_page):
    page, _, _ = admin_page
    page.fill("#dashboard-query", "starred")
    expect(page.locator(f'tr[data-metric="{STARS}"]')).to_be_visible()
    expect(page.locator('tr[data-event="project_starred"]')).to_be_visible()
    expect(page.locator('tr[data-metric="counts.count_total_issue_created"]')).to_be_hidden()
    expect(page.locator('tr[data-event="issue_created"]')).to_be_hidden()
    assert page.evaluate("location.search") == "?q=starred"
    page.fill("#dashboard-query", "")
    expect(page.locator('tr[data-event="issue_created"]')).to_be_visible()


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
