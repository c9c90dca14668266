"""Global Privacy Control and Do Not Track, over real HTTP and in a real Chromium.

A request with an honoured signal is counted in Redis like any other, and
nothing of it reaches the Snowplow collector: neither what the usage-data API
records nor what `track_event` records while serving it. Each test also sends
the same thing without the signal and sees it arrive, so "nothing arrived"
cannot come from a broken collector.
"""

import json
from contextlib import contextmanager

import pytest

from webapp.demo.store import projects, users
from webapp.internal_events.privacy_signals import honoured_signals
from webapp.testing import tracked_total

from helpers import LiveSession, csrf_token_of, reset_collector, sign_in, sign_in_page
from servers import serving

GPC, DNT = {"Sec-GPC": "1"}, {"DNT": "1"}


@pytest.mark.parametrize(
    "policy, headers, honoured",
    [
        ("gpc_and_dnt", GPC, ["Sec-GPC"]),
        ("gpc_and_dnt", DNT, ["DNT"]),
        ("gpc_and_dnt", {**GPC, **DNT}, ["Sec-GPC", "DNT"]),
        ("gpc_and_dnt", {"Sec-GPC": "0", "DNT": "0"}, []),
        ("gpc", DNT, []),
        ("gpc", GPC, ["Sec-GPC"]),
        ("ignore", {**GPC, **DNT}, []),
    ],
)
def test_the_policy_decides_which_signals_count(policy, headers, honoured):
    assert honoured_signals(policy, headers) == honoured


@pytest.mark.parametrize(
    "policy, declared, honoured",
    [
        ("gpc_and_dnt", "gpc,dnt", ["Sec-GPC", "DNT"]),
        ("gpc_and_dnt", "dnt", ["DNT"]),
        ("gpc", "dnt", []),
        ("ignore", "gpc", []),
        ("gpc_and_dnt", "nonsense,,", []),
    ],
)
def test_signals_the_client_names_follow_the_same_policy(policy, declared, honoured):
    assert honoured_signals(policy, {}, declared) == honoured


@contextmanager
def collecting(make_demo, **config):
    """The demo app over HTTP as its own collector, with `config`; yields (app, base, arrived)."""
    handler = {}
    with serving(lambda environ, start: handler["app"](environ, start)) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        app = handler["app"] = make_demo(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=base, **config)
        admin = sign_in(LiveSession(base), "admin")
        reset_collector(admin)

        def arrived():
            assert app.extensions["internal_events"].snowplow.flush(timeout=10)
            return sorted(event["action"] for event in admin.get("/micro/good").json())

        try:
            yield app, base, arrived
        finally:
            app.extensions["internal_events"].snowplow.close()


def website_id(app):
    with app.app_context():
        return projects.visible_by_path(users.by_username("bob"), "acme", "website").id


def act(session, base, project_id):
    """bob sends two events through the API (as a beacon) and stars a project (a server-side track_event)."""
    body = {
        "events": [
            {"event": "project_viewed", "project_id": project_id},
            {"event": "clone_button_clicked", "project_id": project_id, "additional_properties": {"label": "ssh"}},
        ]
    }
    answer = session.post(
        "/api/v4/usage_data/track_events",
        data=json.dumps(body),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": base, "Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    page = session.get("/acme/website")
    star = session.post("/acme/website/-/star", data={"csrf_token": csrf_token_of(page.text)})
    assert star.status_code == 302


EVENTS = ("clone_button_clicked", "project_starred", "project_viewed")


def totals(app):
    return [tracked_total(app, name) for name in EVENTS]


@pytest.mark.parametrize("signal", [GPC, DNT], ids=["Sec-GPC", "DNT"])
def test_a_signal_counts_in_redis_and_sends_nothing_to_snowplow(make_demo, signal):
    with collecting(make_demo) as (app, base, arrived):
        bob = sign_in(LiveSession(base), "bob")
        bob.headers.update(signal)
        act(bob, base, website_id(app))
        assert totals(app) == [1, 1, 1]
        assert arrived() == []

        del bob.headers[next(iter(signal))]
        act(bob, base, website_id(app))  # unstars: the star toggles
        assert totals(app) == [2, 1, 2]
        assert arrived() == ["clone_button_clicked", "project_viewed"]


@pytest.mark.parametrize("policy, sent_with_dnt, sent_with_gpc", [("gpc", True, False), ("ignore", True, True)])
def test_the_policy_is_configurable(make_demo, policy, sent_with_dnt, sent_with_gpc):
    with collecting(make_demo, INTERNAL_EVENTS_PRIVACY_SIGNALS=policy) as (app, base, arrived):
        bob = sign_in(LiveSession(base), "bob")
        expected = []
        for signal, sent in ((DNT, sent_with_dnt), (GPC, sent_with_gpc)):
            bob.headers.update(signal)
            act(bob, base, website_id(app))
            del bob.headers[next(iter(signal))]
            expected += ["clone_button_clicked", "project_viewed"] * sent
        assert totals(app) == [2, 1, 2]  # starred with DNT, then unstarred (not an event)
        assert arrived() == sorted(expected + ["project_starred"] * sent_with_dnt)


def test_the_page_of_a_signalling_visitor_carries_no_user_id(client_for):
    bob = client_for("bob")

    def context(**headers):
        html = bob.get("/acme/website", headers=headers).get_data(as_text=True)
        start = html.index('id="internal-events-context">') + len('id="internal-events-context">')
        return json.loads(html[start : html.index("</script>", start)])

    plain, private = context(), context(**GPC)
    assert plain["user_id"] is not None and plain["signed_in"] is True
    assert private["user_id"] is None and private["signed_in"] is True
    assert private["project_id"] == plain["project_id"]


@pytest.mark.parametrize("signal", [GPC, DNT], ids=["Sec-GPC", "DNT"])
def test_chromium_with_a_signal_counts_clicks_and_sends_nothing(make_demo, browser, signal):
    with collecting(make_demo) as (app, base, arrived):
        for headers in (signal, {}):
            context = browser.new_context(extra_http_headers=headers)
            page = context.new_page()
            problems = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            sign_in_page(page, base)
            page.goto(f"{base}/acme/website")
            page.wait_for_selector(".project-widget")
            page_context = json.loads(page.text_content("#internal-events-context"))
            assert (page_context["user_id"] is None) == bool(headers)
            page.click("text=Copy SSH")
            page.evaluate("() => window.InternalEvents.flush()")
            context.close()
            assert problems == []
            if headers:
                assert tracked_total(app, "clone_button_clicked") == 1
                assert tracked_total(app, "project_viewed") == 1
                assert arrived() == []
        assert tracked_total(app, "clone_button_clicked") == 2
        assert "clone_button_clicked" in arrived()


NAVIGATOR_SIGNALS = {
    "globalPrivacyControl": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    "doNotTrack": "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
}


@pytest.mark.parametrize("signal", NAVIGATOR_SIGNALS)
def test_the_client_passes_on_its_browsers_signal_when_no_header_arrives(make_demo, browser, signal):
    """A proxy stripped the headers: the client names the signal, the server still sends nothing to Snowplow."""
    with collecting(make_demo) as (app, base, arrived):
        context = browser.new_context()
        context.add_init_script(NAVIGATOR_SIGNALS[signal])
        page = context.new_page()
        api_urls = []
        page.on("request", lambda request: "/usage_data/" in request.url and api_urls.append(request.url))
        sign_in_page(page, base)
        page.goto(f"{base}/acme/website")
        page.wait_for_selector(".project-widget")
        page.click("text=Copy SSH")
        page.evaluate("() => window.InternalEvents.flush()")
        context.close()
        assert api_urls and all("privacy_signals=" in url for url in api_urls)
        assert tracked_total(app, "clone_button_clicked") == 1
        assert arrived() == []
