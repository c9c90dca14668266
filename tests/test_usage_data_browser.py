"""The usage-data API from a real Chromium: beacons and keepalive fetches from our pages count,
the same calls from another origin on the same site (where the Lax session cookie is still sent)
count nothing."""

import time

import pytest

from webapp.demo.store import projects, users
from webapp.internal_events.service_ping import metric_values

from helpers import sign_in_page
from servers import serving

WEBSITE_VIEWS = "redis_hll_counters.count_distinct_project_id_from_project_viewed_weekly"
CLONES = "counts.count_total_clone_button_clicked"

SEND = """async (apiUrl) => {
  const ctx = JSON.parse(document.getElementById('internal-events-context')?.textContent || '{}');
  const event = {event: 'project_viewed', project_id: ctx.project_id || %(project)d};
  const beacon = navigator.sendBeacon(apiUrl, JSON.stringify({events: [event]}));
  const response = await fetch(apiUrl, {method: 'POST', keepalive: true, credentials: 'include',
    mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
    body: JSON.stringify({events: [{event: 'clone_button_clicked', project_id: event.project_id,
                                    additional_properties: {label: 'https'}}]})});
  return {beacon, status: response.status, type: response.type};
}"""


class RequestLog:
    """WSGI middleware noting each API request's Origin, whether it carried the session, and its status."""

    def __init__(self, app):
        self.app, self.seen = app, []

    def __call__(self, environ, start_response):
        def start(status, headers, *rest):
            if environ["PATH_INFO"].startswith("/api/"):
                self.seen.append(
                    {
                        "origin": environ.get("HTTP_ORIGIN"),
                        "status": int(status.split()[0]),
                        "session": "session=" in environ.get("HTTP_COOKIE", ""),
                    }
                )
            return start_response(status, headers, *rest)

        return self.app(environ, start_response=start)


@pytest.fixture
def site(demo):
    log = RequestLog(demo)
    with serving(log) as server:
        yield f"http://127.0.0.1:{server.server_port}", log


def another_site_page(environ, start_response):
    """A page of another origin on the same host: a different port is the same site for cookies."""
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<!doctype html><title>elsewhere</title><p>Another app on this host"]


def counted(app):
    with app.app_context():
        return metric_values(app.extensions["internal_events"])


def wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_beacon_and_keepalive_fetch_from_our_page_are_counted(page, site, demo):
    base, log = site
    sign_in_page(page, base)
    page.goto(f"{base}/acme/website")
    # The page's own tracking client sends its load events first; count our two calls after them.
    assert wait_for(lambda: len(log.seen) >= 1)
    before = len(log.seen)
    sent = page.evaluate(SEND % {"project": 0}, "/api/v4/usage_data/track_events")
    assert sent["beacon"] is True
    assert wait_for(lambda: len(log.seen) == before + 2), log.seen
    assert [r["status"] for r in log.seen] == [200] * (before + 2)
    values = counted(demo)
    assert (values[WEBSITE_VIEWS], values[CLONES]) == (1, 1)


def test_the_same_calls_from_another_origin_of_the_same_site_count_nothing(page, site, demo):
    base, log = site
    sign_in_page(page, base)
    with demo.app_context():
        website = projects.visible_by_path(users.by_username("bob"), "acme", "website")
    with serving(another_site_page) as other:
        page.goto(f"http://127.0.0.1:{other.server_port}/")
        sent = page.evaluate(SEND % {"project": website.id}, f"{base}/api/v4/usage_data/track_events")
        assert sent["beacon"] is True and sent["type"] == "opaque"
        assert wait_for(lambda: len(log.seen) == 2)
    assert all(r["session"] for r in log.seen), "the browser did not send the session: the test proves nothing"
    assert [(r["origin"], r["status"]) for r in log.seen] == [(f"http://127.0.0.1:{other.server_port}", 403)] * 2
    assert not any(counted(demo).values())
