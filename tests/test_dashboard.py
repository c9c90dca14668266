"""The metrics dashboard over HTTP: who may see it, what it shows, what its poller gets."""

import json
import re

import pytest
from conftest import LiveSession, sign_in

from webapp.store import users

PAGE, DATA = "/admin/metrics/", "/admin/metrics/data.json"


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


def test_signed_out_visitors_are_sent_to_sign_in_and_the_data_refused(demo):
    client = demo.test_client()
    page = client.get(PAGE)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/users/sign_in?next=/admin/metrics/")
    data = client.get(DATA)
    assert data.status_code == 401
    assert data.get_json()["error"] == "sign in as an administrator"


def test_users_who_are_not_administrators_are_refused(client_for):
    alice = client_for("alice")
    for path in (PAGE, DATA):
        response = alice.get(path)
        assert response.status_code == 403
        assert response.get_json() == {"error": "administrators only", "status": 403}


def test_the_page_lists_every_event_and_metric_with_its_values_and_chart(demo, client_for):
    track(demo, "project_starred", times=3, project_id=5, namespace_id=2)
    track(demo, "project_created", user_id=1, project_id=5, namespace_id=2)
    track(demo, "project_created", user_id=2, project_id=5, namespace_id=2)
    response = client_for("admin").get(PAGE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    definitions = demo.extensions["internal_events"].definitions

    for name in definitions.events:
        assert f'<tr data-event="{name}"' in html
    for path in {metric.path for metric in definitions.metrics}:
        assert path in html

    starred = row_html(html, "data-metric", "counts.count_total_project_starred")
    assert [cell(starred, frame) for frame in ("7d", "28d", "all")] == ["3", "3", "3"]
    bars = re.findall(r'<rect [^>]*data-value="(\d+)"', starred)
    assert bars == ["0"] * 11 + ["3"]
    unique = row_html(html, "data-metric", "redis_hll_counters.count_distinct_user_id_from_project_created")
    assert [cell(unique, frame) for frame in ("7d", "28d")] == ["2", "2"]
    assert 'data-frame="all"' not in unique  # unique metrics have no all-time value
    event = row_html(html, "data-event", "project_starred")
    assert [cell(event, frame) for frame in ("7d", "28d", "all")] == ["3", "3", "3"]
    assert 'href="/api/v4/usage_data/service_ping"' in html and "download=" in html


def test_search_hides_rows_that_do_not_match(client_for):
    html = client_for("admin").get(PAGE, query_string={"q": "clone ssh"}).get_data(as_text=True)
    shown = re.findall(r'<tr data-(?:metric|event)="([^"]+)"[^>]*?(?<!hidden)>', html)
    # The metric, and the event whose metrics include it.
    assert shown == ["counts.count_total_clone_button_clicked_with_ssh", "clone_button_clicked"]
    assert 'value="clone ssh"' in html


def test_the_poller_gets_values_charts_and_recent_events_that_follow_tracking(demo, client_for):
    admin = client_for("admin")
    before = admin.get(DATA).get_json()
    total = next(m for m in before["metrics"] if m["key_path"] == "counts.count_total_issue_created")
    assert total["values"] == {"7d": 0, "28d": 0, "all": 0}

    track(demo, "issue_created", times=2, project_id=5, namespace_id=2)
    after = admin.get(DATA).get_json()
    moved = next(m for m in after["metrics"] if m["key_path"] == "counts.count_total_issue_created")
    assert moved["values"] == {"7d": 2, "28d": 2, "all": 2}
    assert moved["chart_version"] != total["chart_version"]
    assert 'data-value="2"' in moved["chart"] and moved["chart"].startswith("<svg")
    unmoved = [m for m in after["metrics"] if "issue_created" not in m["key_path"]]
    assert all(m["chart_version"] == next(b for b in before["metrics"] if b["key_path"] == m["key_path"])
               ["chart_version"] for m in unmoved)
    event = next(e for e in after["events"] if e["name"] == "issue_created")
    assert event["values"] == {"7d": 2, "28d": 2, "all": 2}
    assert after["day"] == before["day"]
    assert "No events received yet." in after["recent"]  # nothing is sent to Snowplow in this app


def test_recent_events_come_from_the_collector_with_user_names(collecting_server):
    app, base = collecting_server
    with app.app_context():
        alice = users.by_username("alice")
    events = app.extensions["internal_events"]
    events.track("help_link_clicked", user_id=alice.id, additional_properties={"label": "projects"})
    events.track("project_viewed", user_id=999, project_id=5, namespace_id=2)
    assert events.snowplow.flush(timeout=10)

    admin = sign_in(LiveSession(base), "admin")
    recent = admin.get(DATA).json()["recent"]
    rows = re.findall(r"<tr .*?</tr>", recent, re.S)
    assert len(rows) == 2
    assert "<code>project_viewed</code>" in rows[0] and events.privacy.pseudonym(999)[:12] in rows[0]
    assert re.search(r'<td class="num">2</td>\s*<td class="num">5</td>', rows[0])
    assert "<code>help_link_clicked</code>" in rows[1] and "<td>alice</td>" in rows[1]
    assert "label=projects" in rows[1]
    page = admin.get(PAGE).text
    assert "<code>help_link_clicked</code>" in page and f"events are sent to {base}" in page


def test_hostile_queries_are_escaped(client_for):
    html = client_for("admin").get(PAGE, query_string={"q": '"><script>alert(1)</script>'}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html


@pytest.mark.parametrize("path", ["/admin/metrics/data.json?q=%00", "/admin/metrics/?q=" + "x" * 5000])
def test_odd_requests_never_fail(client_for, path):
    assert client_for("admin").get(path).status_code == 200


def test_the_page_carries_no_inline_script(client_for):
    response = client_for("admin").get(PAGE)
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    inline = [attrs for attrs, body in scripts if body.strip()]
    # Data, and the page's import map allowed by its nonce: nothing that runs.
    assert all('type="application/json"' in attrs or ('type="importmap"' in attrs and "nonce=" in attrs)
               for attrs in inline)
    assert '<script type="module" src="/static/js/dashboard.js' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    json.loads(re.search(r'id="internal-events-context">(.*?)</script>', html).group(1))
