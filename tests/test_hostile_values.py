"""`value` is bounded to what the counters and Snowplow hold, and stored data never breaks a read.

The attack: ten 4,300-digit values in one batch, with a `sum(value)` metric
defined, used to sum to a number that crashed the gunicorn worker (and with it
other users' events in flight). It runs here through the real API of a real
gunicorn server.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.internal_events import InvalidPropertyError, current
from webapp.internal_events.model import Rule
from webapp.internal_events.tracker import MAX_NUMBER

from helpers import LiveSession, demo_environment, sign_in
from servers import Gunicorn

API = "/api/v4/usage_data"
HUGE = int("9" * 4300)  # the longest integer Python's JSON parser reads
SUM_METRIC = """\
key_path: counts.sum_of_help_link_values
description: Sum of the values of help_link_clicked
product_group: project_management
value_type: number
status: active
milestone: '1.0'
introduced_by_url: TODO
time_frame: all
data_source: internal_events
data_category: optional
tiers: [free]
events:
- {name: help_link_clicked, operator: sum(value)}
"""


@pytest.fixture
def with_sum_metric(definitions_dir):
    (definitions_dir / "metrics" / "counts_all" / "sum_of_help_link_values.yml").write_text(SUM_METRIC)
    return definitions_dir


@pytest.fixture
def gunicorn(tmp_path, redis_url, key_prefix, with_sum_metric, demo_database):
    """The app under gunicorn (one worker) with the demo data and the sum metric."""
    server = Gunicorn(
        demo_environment(
            tmp_path,
            redis_url,
            key_prefix,
            demo_database,
            INTERNAL_EVENTS_DEFINITIONS=str(with_sum_metric),
            INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT="0",
            INTERNAL_EVENTS_WRITE_BEHIND="1",
        )
    )
    try:
        yield server.start()
    finally:
        server.stop()


def as_user(base, username):
    session = sign_in(LiveSession(base), username)
    session.headers.update({"Origin": base, "Sec-Fetch-Site": "same-origin"})
    return session


def test_ten_huge_values_in_one_batch_are_refused_and_other_users_events_count(gunicorn, make_demo, with_sum_metric):
    base = gunicorn.url
    app = make_demo(INTERNAL_EVENTS_DEFINITIONS=str(with_sum_metric))
    attacker, bystander = as_user(base, "bob"), as_user(base, "alice")
    attack = {
        "events": [{"event": "help_link_clicked", "additional_properties": {"label": "docs", "value": HUGE}}] * 10
    }

    def bystanders():
        return sum(
            bystander.post(
                f"{API}/track_event",
                json={"event": "help_link_clicked", "additional_properties": {"label": "docs", "value": 1}},
            ).status_code
            == 200
            for _ in range(20)
        )

    with ThreadPoolExecutor(2) as pool:
        accepted_meanwhile = pool.submit(bystanders)
        answer = attacker.post(f"{API}/track_events", json=attack)
        accepted = accepted_meanwhile.result()

    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["accepted"] for r in results] == [False] * 10
    assert all(r["status"] == 400 and "9007199254740992" in r["error"] for r in results), results[0]
    assert accepted == 20
    assert "SIGSEGV" not in gunicorn.logged() and "exited with code" not in gunicorn.logged(), gunicorn.logged()[-2000:]
    admin = as_user(base, "admin")
    ping = admin.get(f"{API}/service_ping")
    assert ping.status_code == 200
    assert ping.json()["counts"]["sum_of_help_link_values"] == 20
    with app.app_context():
        counters = current().counters
        assert int(counters.redis.get(counters.keys.all_time(Rule("help_link_clicked")))) == 20


@pytest.mark.parametrize("value", [MAX_NUMBER + 1, -MAX_NUMBER - 1, 1e300, float(MAX_NUMBER) * 2])
def test_values_beyond_the_bound_are_refused_in_python(make_events, with_sum_metric, value):
    events = make_events(INTERNAL_EVENTS_DEFINITIONS=str(with_sum_metric))
    with pytest.raises(InvalidPropertyError, match="between -9007199254740992 and 9007199254740992"):
        events.track("help_link_clicked", user_id=1, additional_properties={"label": "docs", "value": value})


def test_values_at_the_bound_sum_exactly(make_events, with_sum_metric):
    events = make_events(INTERNAL_EVENTS_DEFINITIONS=str(with_sum_metric))
    for value in (MAX_NUMBER, MAX_NUMBER, -MAX_NUMBER, 0.5):
        assert events.track("help_link_clicked", user_id=1, additional_properties={"label": "docs", "value": value})
    metric = events.definitions.metric("counts.sum_of_help_link_values")
    assert events.counters.value(metric, None) == MAX_NUMBER + 0.5


@pytest.mark.parametrize("stored", ["9" * 4301, "-" + "9" * 5000, "inf", "nan", "not a number"])
def test_a_ruined_stored_sum_never_breaks_the_ping_or_the_admin_pages(make_demo, with_sum_metric, stored):
    app = make_demo(INTERNAL_EVENTS_DEFINITIONS=str(with_sum_metric))
    with app.app_context():
        events = current()
        metric = events.definitions.metric("counts.sum_of_help_link_values")
        events.counters.redis.set(events.counters.keys.all_time(metric.rules[0]), stored)
    admin = sign_in(app.test_client(), "admin")
    ping = admin.get(f"{API}/service_ping")
    assert ping.status_code == 200
    assert ping.get_json()["counts"]["sum_of_help_link_values"] == 0
    for page in ("/admin/", "/admin/metrics/", "/admin/metrics/data.json"):
        assert admin.get(page).status_code == 200, page
