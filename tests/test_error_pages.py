"""Errors by content negotiation: a page in the site's layout for a browser, the same JSON as ever for programs."""

import pytest

from webapp.errors import error_response

from helpers import sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    "username, url, status, way_on",
    [
        (None, "/no/such/project/here", 404, "Back home"),
        ("alice", "/admin/", 403, "Back home"),
        ("bob", "/secret-lab/prototype", 404, "Back home"),
    ],
)
def test_a_browser_gets_an_html_page_in_the_layout_with_a_way_on(demo, client_for, username, url, status, way_on):
    client = client_for(username) if username else demo.test_client()
    response = client.get(url, headers=BROWSER)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<header class="topbar">' in html and f"Error {status}" in html
    assert way_on in html and "{&#34;error" not in html and '"error"' not in html


def test_a_signed_out_browser_asked_to_sign_in_gets_a_sign_in_link_back_here(demo):
    response = demo.test_client().get("/admin/metrics/data.json?x=1", headers=BROWSER)
    assert response.status_code == 401 and response.is_json  # a poller's path: JSON whatever it accepts
    response = demo.test_client().get("/api/v4/usage_data/service_ping", headers=BROWSER)
    assert response.status_code == 401 and response.is_json


def test_a_non_admin_opening_the_dashboard_sees_a_page_not_json(client_for):
    response = client_for("alice").get("/admin/metrics/", headers=BROWSER)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "Administrators only." in response.get_data(as_text=True)


@pytest.mark.parametrize("accept", [None, "application/json", "application/json, text/html;q=0.5"])
def test_programs_and_json_clients_get_the_json_they_always_got(client_for, accept):
    response = client_for("alice").get("/admin/", headers={"Accept": accept} if accept else {})
    assert response.status_code == 403
    assert response.get_json() == {"error": "administrators only", "status": 403}


def test_a_429_page_keeps_retry_after_and_offers_to_try_again(demo):
    """Only the JSON API limits rates today; a page path that did would answer a browser with this page."""
    with demo.test_request_context("/acme?page=2", headers=BROWSER):
        demo.preprocess_request()
        response = error_response(429, "too many requests: slow down", [("Retry-After", "7")])
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    html = response.get_data(as_text=True)
    assert "Too many requests" in html and 'href="/acme?page=2">Try again' in html


def test_redis_down_gives_a_browser_a_503_page_with_retry_after(make_demo):
    app = make_demo(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    admin = sign_in(app.test_client(), "admin")
    response = admin.get("/admin/metrics/", headers=BROWSER)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    assert "Redis cannot be reached" in response.get_data(as_text=True)
    assert admin.get("/admin/metrics/", headers={"Accept": "application/json"}).get_json()["status"] == 503
