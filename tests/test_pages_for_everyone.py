"""Every page in a real Chromium: axe-core finds no serious or critical violation (contrast included), nothing
overflows sideways at 390 px, and screenshots at 1280 and 390 px are saved to `screenshots/` (git-ignored)."""

import json

import pytest

from webapp.demo.config import PROJECT_ROOT
from webapp.demo.store import projects, users

from helpers import sign_in_page

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_ROOT / "screenshots"
METRIC = "counts.count_total_clone_button_clicked_with_ssh"
# (name, who is signed in, path, expected status); the screenshot names are the ones listed in the README.
PAGES = [
    ("sign-in", None, "/users/sign_in", 200),
    ("landing", None, "/", 200),
    ("error-404", None, "/acme/no-such-project", 404),
    ("home", "admin", "/", 200),
    ("project", "admin", "/acme/website", 200),
    ("group", "admin", "/acme", 200),
    ("admin", "admin", "/admin/", 200),
    ("overview", "admin", "/admin/metrics/", 200),
    ("dictionary", "admin", "/admin/metrics/dictionary", 200),
    ("dictionary-events", "admin", "/admin/metrics/dictionary?kind=events", 200),
    ("dictionary-no-match", "admin", "/admin/metrics/dictionary?q=nothing-matches-this", 200),
    ("metric", "admin", f"/admin/metrics/metric/{METRIC}", 200),
    ("event", "admin", "/admin/metrics/event/clone_button_clicked", 200),
    ("help", "admin", "/help", 200),
    ("error-403", "bob", "/admin/metrics/", 403),
]
SCREENSHOTS = {"overview", "dictionary", "metric", "error-403", "error-404"}


@pytest.fixture
def site(collecting_server):
    """The demo app with some activity to show, as its own collector."""
    app, base = collecting_server
    events = app.extensions["internal_events"]
    with app.app_context():
        people = [users.by_username(name).id for name in ("admin", "alice", "bob")]
        website = projects.visible_by_path(users.by_username("alice"), "acme", "website")
    where = {"namespace_id": website.namespace.id, "project_id": website.id}  # the project in its own group
    for user in people:
        events.track("project_viewed", user_id=user, **where)
        events.track("clone_button_clicked", user_id=user, **where, additional_properties={"label": "ssh"})
    events.track("project_starred", user_id=people[1], **where)
    assert events.snowplow.flush(timeout=10)
    return base


def axe_violations(page):
    page.evaluate(AXE.read_text())  # evaluated by the test, so the page's strict CSP does not apply
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_every_page_is_accessible_and_fits_the_screen(browser, site, width, height):
    SHOTS.mkdir(exist_ok=True)
    problems = {}
    contexts = {}
    try:
        for name, user, path, status in PAGES:
            if user not in contexts:
                contexts[user] = browser.new_context(viewport={"width": width, "height": height})
                if user:
                    sign_in_page(contexts[user].new_page(), site, user)
            page = contexts[user].new_page()
            response = page.goto(site + path)
            assert response.status == status, (name, response.status)
            page.wait_for_load_state("networkidle")
            found = axe_violations(page)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if found or overflow > 0:
                problems[name] = {"axe": found, "overflow_px": overflow}
            if name in SCREENSHOTS:
                page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
            page.close()
    finally:
        for context in contexts.values():
            context.close()
    assert problems == {}, json.dumps(problems, indent=1)
