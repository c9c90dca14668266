"""The demo product's pages: sign-in, visibility, the tracking context and markup, server-side tracking."""

import json
import re
from html.parser import HTMLParser

import pytest
from flask import render_template

from webapp.demo.store import namespaces, projects, users
from webapp.internal_events import current
from webapp.internal_events.windows import today

from helpers import csrf_token_of, submit_sign_in

PAGES = ["/", "/help", "/acme/website", "/acme/website/-/settings", "/groups/acme", "/projects/new", "/admin/"]


class Scripts(HTMLParser):
    """Every <script> of a page: its attributes and its inline text."""

    def __init__(self, html):
        super().__init__()
        self.found, self._open = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = {"attrs": dict(attrs), "text": ""}
            self.found.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def page_context(html):
    (script,) = [s for s in Scripts(html).found if s["attrs"].get("id") == "internal-events-context"]
    assert script["attrs"]["type"] == "application/json"
    return json.loads(script["text"])


def ids(app, namespace_path, project_path=None):
    """(namespace id, project id) of demo data, read from the database the app uses."""
    with app.app_context():
        admin = users.by_username("admin")
        if project_path:
            project = projects.visible_by_path(admin, namespace_path, project_path)
            return project.namespace_id, project.id
        return namespaces.by_path(namespace_path).id, None


def metric(app, key_path):
    with app.app_context():
        events = current()
        return events.counters.value(events.definitions.metric(key_path), today())


def post_form(client, url, data, page=None):
    token = csrf_token_of(client.get(page or "/").text)
    return client.post(url, data={**data, "csrf_token": token})


# -- signing in ---------------------------------------------------------------------------------


def test_sign_in_sets_a_httponly_samesite_lax_session_cookie(demo):
    client = demo.test_client()
    response = submit_sign_in(client, "alice")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert page_context(client.get("/").text)["user_id"] is not None


def test_wrong_password_is_refused(demo):
    client = demo.test_client()
    response = submit_sign_in(client, "alice", "nope")
    assert response.status_code == 401
    assert "Invalid username or password" in response.text
    assert page_context(client.get("/").text)["user_id"] is None


def test_sign_in_without_csrf_token_is_refused(demo):
    response = demo.test_client().post("/users/sign_in", data={"username": "alice", "password": "alice-demo"})
    assert response.status_code == 403
    assert "CSRF token" in response.get_json()["error"]


def test_sign_out_ends_the_session(client_for):
    client = client_for("alice")
    assert post_form(client, "/users/sign_out", {}).status_code == 302
    assert page_context(client.get("/").text)["user_id"] is None


def test_pages_for_members_send_signed_out_visitors_to_sign_in_and_back(demo):
    response = demo.test_client().get("/projects/new")
    assert response.status_code == 302
    assert response.location == "/users/sign_in?next=/projects/new"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(demo, target):
    response = submit_sign_in(demo.test_client(), "bob", next=target)
    assert response.location == "/"


# -- the page context and tracking markup -------------------------------------------------------


def test_project_page_carries_user_namespace_and_project(client_for, demo):
    client = client_for("alice")
    namespace_id, project_id = ids(demo, "acme", "website")
    context = page_context(client.get("/acme/website").text)
    alice = page_context(client.get("/").text)["user_id"]
    assert context == {
        "user_id": alice,
        "signed_in": True,
        "namespace_id": namespace_id,
        "project_id": project_id,
        "api_url": "/api/v4/usage_data/track_events",
        "environment": "test",
        "events": sorted(browser_events(demo)),
    }
    assert context["events"] == sorted(context["events"]) and "project_viewed" in context["events"]
    assert "admin_area_viewed" not in context["events"]  # recorded by the server only: the API refuses it


def current_events(app):
    with app.app_context():
        return list(current().definitions.events)


def browser_events(app):
    """The events the API accepts from a browser, read from the definitions rather than the code under test."""
    with app.app_context():
        return [name for name, event in current().definitions.events.items() if not event.server_side_only]


def test_group_page_carries_its_namespace_and_no_project(client_for, demo):
    context = page_context(client_for("bob").get("/groups/acme").text)
    assert (context["namespace_id"], context["project_id"]) == (ids(demo, "acme")[0], None)


def test_pages_without_a_project_carry_null_ids_and_signed_out_a_null_user(demo):
    context = page_context(demo.test_client().get("/help").text)
    assert (context["user_id"], context["namespace_id"], context["project_id"]) == (None, None, None)
    assert context["signed_in"] is False


def test_context_json_cannot_break_out_of_its_script_element(demo):
    hostile = {"user_id": None, "note": "</script><script>alert(1)</script><!--"}
    with demo.test_request_context("/help"):
        html = render_template("help.html", topics=(), internal_events_context=hostile)
    assert "<script>alert(1)" not in html and "<!--" not in html
    assert page_context(html) == hostile


def test_project_page_uses_tracking_as_a_product_would(client_for):
    html = client_for("alice").get("/acme/website").text
    assert re.search(r'data-event-tracking="project_viewed" data-event-tracking-load="true"', html)
    assert re.search(r'data-event-tracking="clone_button_clicked" data-event-label="ssh"', html)
    assert re.search(r'data-event-tracking="clone_button_clicked" data-event-label="https"', html)
    assert re.search(
        r'data-event-tracking="dashboard_chart_viewed" data-event-tracking-load="true"\s+'
        r'data-event-label="project_activity" data-event-additional=\'{"chart_weeks": 12}\'',
        html,
    )
    assert '<div id="project-widget" data-project-name="Website"></div>' in html
    assert 'data-event-tracking="help_link_clicked" data-event-label="cloning"' in html


@pytest.mark.parametrize(
    "url, event", [("/groups/acme", "group_viewed"), ("/acme/website/-/settings", "project_settings_viewed")]
)
def test_pages_track_their_views_on_load(client_for, url, event):
    html = client_for("alice").get(url).text
    assert f'data-event-tracking="{event}" data-event-tracking-load="true"' in html


def test_every_tracked_event_in_markup_is_defined(client_for, demo):
    client = client_for("admin")
    defined = set(current_events(demo))
    used = set()
    for url in PAGES:
        used |= set(re.findall(r'data-event-tracking="([^"]+)"', client.get(url).text))
    assert used <= defined
    assert used >= {
        "project_viewed",
        "clone_button_clicked",
        "dashboard_chart_viewed",
        "group_viewed",
        "project_settings_viewed",
        "help_link_clicked",
    }


def test_base_template_keeps_the_shared_structure(demo):
    base = demo.jinja_loader.searchpath[0] + "/base.html"
    text = open(base).read()
    include = text.index('{% include "_tracking_scripts.html" ignore missing %}')
    assert include < text.index("{% block scripts %}") < text.index("</body>")  # the import map before page modules
    assert "{% block content %}" in text


# -- security headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_pages_have_a_strict_csp_and_no_inline_script(client_for, url):
    response = client_for("admin").get(url)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    inline = [
        script["attrs"]
        for script in Scripts(response.text).found
        if "src" not in script["attrs"] and script["attrs"].get("type") != "application/json"
    ]
    assert [attrs.get("type") for attrs in inline] == ["importmap"]  # the only inline script: the tracking client's
    assert f"script-src 'self' 'nonce-{inline[0]['nonce']}';" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_nonced_inline_script_is_the_only_one_allowed(demo):
    demo.add_url_rule(
        "/import-map",
        view_func=lambda: demo.jinja_env.from_string(
            '<script type="importmap" nonce="{{ csp_nonce() }}">{}</script>'
        ).render(),
    )
    response = demo.test_client().get("/import-map")
    nonce = re.search(r'nonce="([^"]+)"', response.text).group(1)
    assert f"script-src 'self' 'nonce-{nonce}';" in response.headers["Content-Security-Policy"]
    other = demo.test_client().get("/import-map")
    assert nonce not in other.headers["Content-Security-Policy"]


def test_every_answer_gets_the_security_headers_once_and_a_view_may_set_its_own(demo):
    demo.add_url_rule("/framed", view_func=lambda: ("", {"X-Frame-Options": "SAMEORIGIN"}))
    client = demo.test_client()
    for response in (client.get("/"), client.post("/api/v4/usage_data/track_event"), client.get("/framed")):
        for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
            assert len(response.headers.getlist(name)) == 1, (response.request.path, name)
    assert client.get("/framed").headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get("/").headers["X-Frame-Options"] == "DENY"


# -- visibility ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username, url, status",
    [
        ("bob", "/acme/billing", 200),  # private project, bob is a member of acme
        ("bob", "/secret-lab/prototype", 404),  # private group bob is not in
        ("bob", "/groups/secret-lab", 404),
        ("bob", "/alice/dotfiles", 200),  # public project in alice's personal namespace
        ("alice", "/bob/notes", 404),
        ("admin", "/bob/notes", 200),
        ("bob", "/acme/website/-/settings", 403),  # developers do not change settings
        ("bob", "/admin/", 403),
    ],
)
def test_who_sees_what(client_for, username, url, status):
    response = client_for(username).get(url)
    assert response.status_code == status
    if status >= 400:
        assert response.get_json()["status"] == status


def test_signed_out_visitors_see_public_projects_only(demo):
    client = demo.test_client()
    assert client.get("/acme/website").status_code == 200
    assert client.get("/acme/billing").status_code == 404
    assert "Billing" not in client.get("/").text


# -- server-side actions track their events -----------------------------------------------------


def test_creating_a_project_tracks_project_created(client_for, demo):
    client = client_for("bob")
    response = post_form(
        client,
        "/projects/new",
        {"name": "My Tools", "namespace_id": ids(demo, "bob")[0], "visibility": "public", "description": "x"},
    )
    assert response.status_code == 302 and response.location == "/bob/my-tools"
    assert client.get("/bob/my-tools").status_code == 200
    assert metric(demo, "counts.count_total_project_created") == 1
    assert metric(demo, "redis_hll_counters.count_distinct_user_id_from_project_created_weekly") == 1


@pytest.mark.parametrize(
    "form, message",
    [
        ({"name": ""}, "Name is required"),
        ({"name": "x", "visibility": "secret"}, "Choose public or private"),
        ({"name": "api"}, "is reserved"),
        ({"name": "x", "namespace": "secret-lab"}, "Choose a namespace"),  # bob may not create there
    ],
)
def test_invalid_projects_are_refused_and_not_counted(client_for, demo, form, message):
    client = client_for("bob")
    data = {"namespace_id": ids(demo, form.pop("namespace", "bob"))[0], "visibility": "private", **form}
    response = post_form(client, "/projects/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert metric(demo, "counts.count_total_project_created") == 0


def test_a_taken_path_is_refused(client_for, demo):
    response = post_form(
        client_for("alice"),
        "/projects/new",
        {"name": "Website", "namespace_id": ids(demo, "acme")[0], "visibility": "public"},
    )
    assert response.status_code == 400 and "acme/website already exists" in response.text


def test_starring_tracks_project_starred_and_unstarring_does_not(client_for, demo):
    client = client_for("bob")
    post_form(client, "/acme/website/-/star", {})
    assert "★ Unstar" in client.get("/acme/website").text
    post_form(client, "/acme/website/-/star", {})
    assert "☆ Star" in client.get("/acme/website").text
    assert metric(demo, "counts.count_total_project_starred") == 1


def test_creating_an_issue_tracks_issue_created_for_the_project(client_for, demo):
    client = client_for("bob")
    response = post_form(client, "/acme/website/-/issues", {"title": "Typo on the home page"})
    assert response.status_code == 302
    assert "Typo on the home page" in client.get("/acme/website").text
    assert metric(demo, "counts.count_total_issue_created") == 1
    assert metric(demo, "redis_hll_counters.count_distinct_project_id_from_issue_created_weekly") == 1


def test_an_empty_issue_is_refused_and_not_counted(client_for, demo):
    client = client_for("bob")
    post_form(client, "/acme/website/-/issues", {"title": "  "})
    assert "Title is required" in client.get("/acme/website").text
    assert metric(demo, "counts.count_total_issue_created") == 0


def test_inviting_a_member_tracks_group_member_invited(client_for, demo):
    client = client_for("alice")
    response = post_form(client, "/groups/secret-lab/members", {"username": "bob", "role": "guest"})
    assert response.status_code == 302
    assert client_for("bob").get("/groups/secret-lab").status_code == 200
    assert metric(demo, "counts.count_total_group_member_invited") == 1
    post_form(client, "/groups/secret-lab/members", {"username": "bob", "role": "guest"})
    assert "already a member" in client.get("/groups/secret-lab").text
    assert metric(demo, "counts.count_total_group_member_invited") == 1


def test_only_maintainers_invite(client_for, demo):
    response = post_form(client_for("bob"), "/groups/acme/members", {"username": "admin", "role": "owner"})
    assert response.status_code == 403
    assert metric(demo, "counts.count_total_group_member_invited") == 0


def test_forms_without_csrf_token_change_and_count_nothing(client_for, demo):
    client = client_for("bob")
    response = client.post("/acme/website/-/issues", data={"title": "forged"})
    assert response.status_code == 403
    assert "forged" not in client.get("/acme/website").text
    assert metric(demo, "counts.count_total_issue_created") == 0


def test_admin_area_tracks_its_view_and_sums_up_the_metrics(client_for, demo):
    client = client_for("admin")
    client.get("/admin/")
    html = client.get("/admin/").text
    assert '<strong id="events-tracked-7d">2</strong> events tracked in the last 7 days.' in html
    assert 'href="/admin/metrics/dictionary"' in html and "key_path" not in html  # no list of every metric
    assert metric(demo, "redis_hll_counters.count_distinct_user_id_from_admin_area_viewed_weekly") == 1


def test_settings_change_visibility(client_for, demo):
    client = client_for("alice")
    response = post_form(client, "/acme/billing/-/settings", {"description": "now open", "visibility": "public"})
    assert response.status_code == 302
    assert demo.test_client().get("/acme/billing").status_code == 200
    bad = post_form(client, "/acme/billing/-/settings", {"visibility": "hidden"})
    assert bad.status_code == 400
