"""The README's walkthrough, step by step: generate an event and its metrics, use it in a template,
click it in a real Chromium, and see it move on the dashboard and in the service ping."""

import json
import shutil

from jinja2 import ChoiceLoader, FileSystemLoader
from playwright.sync_api import expect

from webapp.demo.config import PROJECT_ROOT, from_environment

from helpers import sign_in_page

EVENT = "project_card_clicked"
UNIQUE = "redis_hll_counters.count_distinct_user_id_from_project_card_clicked"
TOTAL = "counts.count_total_project_card_clicked"
CARD = "a.card-title:has-text('Acme Corp / Website')"


def edited_templates(tmp_path):
    """The project's templates with step 3's edit: the card link carries the event."""
    folder = tmp_path / "project" / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", folder)
    macros = folder / "_macros.html"
    original = macros.read_text()
    link = '<a class="card-title" href='
    macros.write_text(original.replace(link, link.replace(" href=", f' data-event-tracking="{EVENT}" href=')))
    assert macros.read_text() != original, "the card link in _macros.html changed: update the README's step 3"
    return folder


def test_a_new_event_from_its_definition_to_the_dashboard(page, collecting_server, tmp_path):
    app, base = collecting_server
    app.config["INTERNAL_EVENTS_DASHBOARD_POLL_SECONDS"] = 0.3
    cli = app.test_cli_runner()

    # Step 2: the event with a unique metric, then a total metric of the same event.
    unique = cli.invoke(
        args=[
            "internal-events",
            "generate",
            "--event",
            EVENT,
            "--group",
            "project_management",
            "--unique",
            "user.id",
            "--description",
            "A user opened a project from a project card",
        ]
    )
    assert unique.exit_code == 0, unique.output
    total = cli.invoke(args=["internal-events", "generate", "--event", EVENT])
    assert total.exit_code == 0, total.output
    assert "only the metric is added" in total.output

    # Step 3: the template; lint stops warning about the event.
    templates = edited_templates(tmp_path)
    before = cli.invoke(args=["internal-events", "lint", "--root", str(PROJECT_ROOT)])
    after = cli.invoke(args=["internal-events", "lint", "--root", str(templates.parent)])
    assert f"event '{EVENT}' is defined but never used" in before.output
    assert EVENT not in after.output and after.exit_code == 0
    app.jinja_env.loader = ChoiceLoader([FileSystemLoader(templates), app.jinja_env.loader])
    app.extensions["internal_events"].live_definitions.reload_if_changed()  # what the app does by itself
    assert EVENT in app.extensions["internal_events"].definitions.events

    # Step 4: alice clicks the card.
    sign_in_page(page, base, "alice")
    page.click(CARD)
    page.wait_for_url(f"{base}/acme/website")

    # Step 5: the administrator's dashboard shows it, and follows a second click live.
    page.click("button:has-text('Sign out')")
    sign_in_page(page, base, "admin")
    page.click("text=Admin area")
    page.click("text=Metrics dashboard")
    page.click("text=Metrics dictionary")
    page.fill("#dashboard-query", "project_card")
    unique_row, total_row = page.locator(f'tr[data-metric="{UNIQUE}"]'), page.locator(f'tr[data-metric="{TOTAL}"]')
    expect(page.locator("tr[data-metric]")).to_have_count(2)
    for row in (unique_row, total_row):
        for frame in ("7d", "28d"):
            expect(row.locator(f'[data-frame="{frame}"]')).to_have_text("1", timeout=10_000)

    tab = page.context.new_page()
    tab.goto(base)
    tab.click(CARD)
    tab.wait_for_url(f"{base}/acme/website")
    expect(total_row.locator('[data-frame="all"]')).to_have_text("2", timeout=10_000)
    expect(unique_row.locator('[data-frame="7d"]')).to_have_text("2")  # alice and admin
    total_row.locator("a").first.click()
    expect(page.locator(".time-chart rect").last).to_have_attribute("data-value", "2")
    page.click("text=Admin area")
    page.click("text=Metrics dashboard")
    expect(page.locator("#recent-events tr", has_text=EVENT).first).to_contain_text("admin", timeout=10_000)
    expect(page.locator("#recent-events tr", has_text=EVENT)).to_have_count(2)

    with page.expect_download() as download:
        page.click("#service-ping-download")
    with open(download.value.path()) as ping:
        counts = json.load(ping)["counts"]
    assert counts["count_total_project_card_clicked_weekly"] == 2
    assert '"count_total_project_card_clicked": 2' in cli.invoke(args=["internal-events", "service-ping"]).output


def test_development_shows_edited_templates_without_a_restart():
    """Step 4 edits a template while `make run` serves the app: the next request must show it."""
    assert from_environment({"WEBAPP_ENV": "development"})["TEMPLATES_AUTO_RELOAD"] is True
    assert from_environment({"WEBAPP_ENV": "production"})["TEMPLATES_AUTO_RELOAD"] is False
