"""The metrics dashboard over HTTP: who may see it, the overview, the dictionary, metric and event pages."""

import json
import re

import pytest

from webapp.demo.store import namespaces, projects, users

from helpers import LiveSession, sign_in

PAGE, DATA = "/admin/metrics/", "/admin/metrics/data.json"
DICTIONARY, DICTIONARY_DATA = "/admin/metrics/dictionary", "/admin/metrics/dictionary.json"
STARS = "counts.count_total_project_starred"


def track(app, name, times=1, **ids):
    events = app.extensions["internal_events"]
    for _ in range(times):
        assert events.track(name, **({"user_id": 1} | ids))


def row_html(html, attribute, name):
    match = re.search(rf'<tr {attribute}="{re.escape(name)}".*?</tr>', html, re.S)
    assert match, f"no row for {name}"
    return match.group(0)


def cell(row, frame):
    return re.search(rf'data-frame="{frame}"[^>]*>([^<]*)<', row).group(1)


def figure(html, label):
    return re.search(rf'{label}</span>\s*<span class="figure-value">([^<]*)</span>', html).group(1)


def test_signed_out_visitors_are_sent_to_sign_in_and_the_data_refused(demo):
    client = demo.test_client()
    for path in (PAGE, DICTIONARY, f"/admin/metrics/metric/{STARS}"):
        page = client.get(path)
        assert page.status_code == 302 and page.headers["Location"].startswith("/users/sign_in?next=/admin/metrics/")
    for path in (DATA, DICTIONARY_DATA):
        assert client.get(path).get_json() == {"error": "sign in as an administrator", "status": 401}


def test_users_who_are_not_administrators_are_refused(client_for):
    alice = client_for("alice")
    for path in (PAGE, DATA, DICTIONARY, DICTIONARY_DATA, "/admin/metrics/event/project_starred"):
        response = alice.get(path)
        assert response.status_code == 403
        assert response.get_json() == {"error": "administrators only", "status": 403}


def test_the_overview_shows_top_line_figures_a_chart_and_the_top_events(demo, client_for):
    track(demo, "project_starred", times=3, project_id=5, namespace_id=2)
    track(demo, "project_created", user_id=1, project_id=5, namespace_id=2)
    track(demo, "project_created", user_id=2, project_id=5, namespace_id=2)
    html = client_for("admin").get(PAGE).get_data(as_text=True)
    assert figure(html, "Events today") == "5" and figure(html, "Events, 28 days") == "5"
    assert figure(html, "Active users, 7 days") == "2"
    assert "+5" in html  # against nothing the period before
    top = re.search(r'id="top-events">(.*?)</div>', html, re.S).group(1)
    assert top.index("project_starred") < top.index("project_created")
    assert 'href="/admin/metrics/event/project_starred"' in top
    chart = re.search(r'id="main-chart">(.*?)</figure>', html, re.S).group(1)
    assert len(re.findall(r"<rect ", chart)) == 28  # the default period: 28 days, one bar a day
    assert re.findall(r'<rect [^>]*data-value="(\d+)"', chart)[-1] == "5"
    assert "<figcaption>Events tracked per day" in chart and "y axis: events" in chart
    assert "<table" in chart  # the values for screen readers
    weekly = client_for("admin").get(PAGE, query_string={"period": "12w"}).get_data(as_text=True)
    assert len(re.findall(r"<rect ", re.search(r'id="main-chart">(.*?)</figure>', weekly, re.S).group(1))) == 12


def test_an_empty_overview_says_what_to_do(client_for):
    html = client_for("admin").get(PAGE).get_data(as_text=True)
    assert "No events tracked in this period yet." in html


def test_the_poller_gets_only_the_overview_regions_that_follow_tracking(demo, client_for):
    admin = client_for("admin")
    before = admin.get(DATA).get_json()
    assert set(before["regions"]) == {"top-figures", "delivery-health", "top-events", "main-chart", "recent-events"}
    track(demo, "issue_created", times=2, project_id=5, namespace_id=2)
    after = admin.get(DATA, query_string={"period": "7d"}).get_json()
    assert figure(after["regions"]["top-figures"], "Events today") == "2"
    assert "issue_created" in after["regions"]["top-events"]
    assert len(re.findall(r"<rect ", after["regions"]["main-chart"])) == 7
    assert after["day"] == before["day"]


def test_the_dictionary_lists_every_metric_with_values_and_links_to_its_events(demo, client_for):
    track(demo, "project_starred", times=3, project_id=5, namespace_id=2)
    html = client_for("admin").get(DICTIONARY).get_data(as_text=True)
    definitions = demo.extensions["internal_events"].definitions
    files = {metric.path for metric in definitions.metrics}
    assert f"{len(files)} of {len(files)} metrics" in html
    starred = row_html(html, "data-metric", STARS)
    assert [cell(starred, frame) for frame in ("7d", "28d", "all")] == ["3", "3", "3"]
    assert f'href="/admin/metrics/metric/{STARS}"' in starred
    assert 'href="/admin/metrics/event/project_starred"' in starred
    events = client_for("admin").get(DICTIONARY, query_string={"kind": "events"}).get_data(as_text=True)
    for name in definitions.events:
        assert f'<tr data-event="{name}"' in events
    assert f'href="/admin/metrics/metric/{STARS}"' in row_html(events, "data-event", "project_starred")


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"q": "clone ssh"}, ["counts.count_total_clone_button_clicked_with_ssh"]),
        (
            {"product_group": "documentation"},
            ["counts.count_total_help_link_clicked", "redis_hll_counters.count_distinct_label_from_help_link_clicked"],
        ),
        ({"unique": "label"}, ["redis_hll_counters.count_distinct_label_from_help_link_clicked"]),
        (
            {"q": "clone", "time_frame": "all"},
            ["counts.count_total_clone_button_clicked", "counts.count_total_clone_button_clicked_with_ssh"],
        ),
    ],
)
def test_the_dictionary_searches_and_filters(client_for, query, expected):
    html = client_for("admin").get(DICTIONARY, query_string=query).get_data(as_text=True)
    assert re.findall(r'<tr data-metric="([^"]+)"', html) == expected


def test_no_match_says_so_and_offers_everything(client_for):
    html = client_for("admin").get(DICTIONARY, query_string={"q": "nothing-like-this"}).get_data(as_text=True)
    assert (
        "No metrics match this search and these filters." in html
        and 'href="/admin/metrics/dictionary?kind=metrics"' in html
    )


def test_the_dictionary_sorts_by_value_and_by_change(demo, client_for):
    track(demo, "issue_created", times=2, project_id=5, namespace_id=2)
    track(demo, "project_starred", times=4, project_id=5, namespace_id=2)
    admin = client_for("admin")
    by_value = re.findall(
        r'<tr data-metric="([^"]+)"',
        admin.get(DICTIONARY, query_string={"sort": "value_all", "time_frame": "all"}).get_data(as_text=True),
    )
    assert by_value[:2] == [STARS, "counts.count_total_issue_created"]
    by_change = re.findall(
        r'<tr data-event="([^"]+)"',
        admin.get(DICTIONARY, query_string={"kind": "events", "sort": "change_7d"}).get_data(as_text=True),
    )
    assert by_change[:2] == ["project_starred", "issue_created"]


def test_the_order_by_value_is_remembered_a_while_and_the_values_shown_are_live(demo, client_for):
    track(demo, "issue_created", times=2, project_id=5, namespace_id=2)
    track(demo, "project_starred", times=4, project_id=5, namespace_id=2)
    admin = client_for("admin")
    query = {"kind": "events", "sort": "value_all"}

    def rows():
        html = admin.get(DICTIONARY, query_string=query).get_data(as_text=True)
        order = re.findall(r'<tr data-event="([^"]+)"', html)
        return order[:2], cell(row_html(html, "data-event", "issue_created"), "all")

    assert rows() == (["project_starred", "issue_created"], "2")
    track(demo, "issue_created", times=3, project_id=5, namespace_id=2)
    assert rows() == (["project_starred", "issue_created"], "5")  # ranked as a moment ago, counted now
    demo.extensions.pop("dashboard_ranking")  # what a minute later does
    assert rows() == (["issue_created", "project_starred"], "5")


def test_the_dictionary_is_served_in_pages(demo, client_for, monkeypatch):
    monkeypatch.setattr("webapp.dashboard_data.PAGE_SIZE", 5)
    admin = client_for("admin")
    first = admin.get(DICTIONARY).get_data(as_text=True)
    second = admin.get(DICTIONARY, query_string={"page": 2}).get_data(as_text=True)
    rows = [re.findall(r'<tr data-metric="([^"]+)"', html) for html in (first, second)]
    assert len(rows[0]) == len(rows[1]) == 5 and not set(rows[0]) & set(rows[1])
    assert 'href="/admin/metrics/dictionary?page=2" rel="next"' in first and 'rel="prev"' in second
    data = admin.get(DICTIONARY_DATA, query_string={"page": 2}).get_json()
    assert re.findall(r'<tr data-metric="([^"]+)"', data["regions"]["dictionary-rows"]) == rows[1]


def test_a_metric_page_shows_its_definition_weekly_chart_and_snippets(demo, client_for):
    track(demo, "clone_button_clicked", times=2, project_id=5, namespace_id=2, additional_properties={"label": "ssh"})
    key_path = "counts.count_total_clone_button_clicked_with_ssh"
    html = client_for("admin").get(f"/admin/metrics/metric/{key_path}").get_data(as_text=True)
    for text in (
        "Product group",
        "Tiers",
        "Time frames",
        f"{key_path}_weekly",
        "definitions/metrics/",
        "Weekly values",
        "y axis: events",
        "<code>label = ssh</code>",
    ):
        assert text in html, text
    assert len(re.findall(r"<rect ", html)) == 12
    assert re.findall(r'<rect [^>]*data-value="(\d+)"', html)[-1] == "2"
    assert (
        "track_event(&#34;clone_button_clicked&#34;" in html
        and "additional_properties={&#34;label&#34;: &#34;ssh&#34;}" in html
    )
    assert "data-event-tracking=&#34;clone_button_clicked&#34; data-event-label=&#34;ssh&#34;" in html
    assert "InternalEvents.trackEvent(&#39;clone_button_clicked&#39;, {&#34;label&#34;: &#34;ssh&#34;})" in html
    # A reported key path finds the same page; an unknown one is a 404 naming it.
    assert client_for("admin").get(f"/admin/metrics/metric/{key_path}_monthly").status_code == 200
    missing = client_for("admin").get("/admin/metrics/metric/counts.nope")
    assert missing.status_code == 404 and "counts.nope" in missing.get_json()["error"]


def test_an_event_page_links_the_metrics_counting_it(client_for):
    html = client_for("admin").get("/admin/metrics/event/clone_button_clicked").get_data(as_text=True)
    for key_path in ("counts.count_total_clone_button_clicked", "counts.count_total_clone_button_clicked_with_ssh"):
        assert f'href="/admin/metrics/metric/{key_path}"' in html
    assert "track_event(&#34;clone_button_clicked&#34;, user=g.user" in html
    assert client_for("admin").get("/admin/metrics/event/nope").status_code == 404


def test_recent_events_name_users_namespaces_and_projects(collecting_server):
    app, base = collecting_server
    with app.app_context():
        alice, acme = users.by_username("alice"), namespaces.by_path("acme")
        website = projects.visible_by_path(alice, "acme", "website")
    events = app.extensions["internal_events"]
    events.track("help_link_clicked", user_id=alice.id, additional_properties={"label": "projects"})
    events.track("project_viewed", user_id=999, project_id=website.id, namespace_id=acme.id)
    assert events.snowplow.flush(timeout=10)

    admin = sign_in(LiveSession(base), "admin")
    recent = admin.get(DATA).json()["regions"]["recent-events"]
    rows = re.findall(r"<tr>.*?</tr>", recent, re.S)
    assert len(rows) == 2
    assert "<code>project_viewed</code>" in rows[0] and events.privacy.pseudonym(999)[:12] in rows[0]
    assert "<td>Acme Corp</td>" in rows[0] and "<td>acme/website</td>" in rows[0]
    assert "<code>help_link_clicked</code>" in rows[1] and "<td>alice</td>" in rows[1]
    assert "label=projects" in rows[1] and not re.search(r"\dZ<|T\d\d:", re.sub(r'datetime="[^"]*"', "", rows[1]))
    page = admin.get(PAGE).text
    assert "<code>help_link_clicked</code>" in page and f"events are sent to {base}" in page
    assert "(times in UTC)" in page


def test_hostile_queries_are_escaped(client_for):
    html = client_for("admin").get(DICTIONARY, query_string={"q": '"><script>alert(1)</script>'}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


@pytest.mark.parametrize(
    "path",
    [
        "/admin/metrics/dictionary.json?q=%00",
        "/admin/metrics/dictionary?q=" + "x" * 5000,
        "/admin/metrics/dictionary?page=999",
        "/admin/metrics/dictionary?page=-3",
    ],
)
def test_odd_requests_never_fail(client_for, path):
    assert client_for("admin").get(path).status_code == 200


@pytest.mark.parametrize(
    "path, problem",
    [
        ("/admin/metrics/?period=1y", "period must be one of 7d, 28d, 12w"),
        ("/admin/metrics/dictionary?sort=bogus", "sort must be one of"),
        ("/admin/metrics/dictionary?kind=x", "kind must be one of metrics, events"),
        ("/admin/metrics/dictionary.json?page=two", "page must be a whole number"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_problem(client_for, path, problem):
    response = client_for("admin").get(path)
    assert response.status_code == 400 and problem in response.get_json()["error"]


@pytest.mark.parametrize("path", [PAGE, DICTIONARY])
def test_the_pages_carry_no_inline_script(client_for, path):
    response = client_for("admin").get(path)
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    inline = [attrs for attrs, body in scripts if body.strip()]
    # Data, and the page's import map allowed by its nonce: nothing that runs.
    assert all(
        'type="application/json"' in attrs or ('type="importmap"' in attrs and "nonce=" in attrs) for attrs in inline
    )
    assert re.search(r'<script type="module" src="/static/gen/js/dashboard\.[0-9a-f]{8}\.js', html)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    json.loads(re.search(r'id="internal-events-context">(.*?)</script>', html).group(1))
