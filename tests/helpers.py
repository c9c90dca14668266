"""Helpers shared by the tests: signing in to the demo, sessions on live servers, the collector's token."""

import re

import requests

from webapp.demo.config import collector_token

# Strong enough for tests that switch to production, which refuses weak keys.
TEST_SECRET_KEY = "test-only-secret-key-0123456789abcdef"


def collector_headers(config):
    """What the app's own tracker shows its collector (see webapp.internal_events.settings.collector_token)."""
    return {"Authorization": f"Bearer {collector_token(config)}", "Content-Type": "application/json"}


def reset_collector(session):
    """Empty the app's collector as an administrator would: a POST with the page's CSRF token."""
    page = session.get("/")
    token = csrf_token_of(page.text if hasattr(page, "text") else page.get_data(as_text=True))
    assert session.post("/micro/reset", headers={"X-CSRF-Token": token}).status_code == 200


def csrf_token_of(html):
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def submit_sign_in(client, username, password=None, **fields):
    """Fill in and send the real sign-in form with `client` (a Flask test client or a LiveSession)."""
    page = client.get("/users/sign_in")
    return client.post(
        "/users/sign_in",
        data={
            "username": username,
            "password": password or f"{username}-demo",
            "csrf_token": csrf_token_of(page.text),
            **fields,
        },
    )


def sign_in(client, username, password=None):
    response = submit_sign_in(client, username, password)
    assert response.status_code == 302, f"could not sign in as {username}"
    return client


def sign_in_page(page, base, username="bob"):
    """Sign in through the real form in the browser."""
    page.goto(f"{base}/users/sign_in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-demo")
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(f"{base}/")


class LiveSession(requests.Session):
    """A requests session whose paths are relative to a live server; redirects are not followed."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, self.base + url, *args, **kwargs)
