"""The usage-data API through the Flask test client: what is counted, what is refused and why."""

import io
import json

import pytest

from webapp.api.rate_limit import RateLimit
from webapp.demo.store import namespaces, projects, users
from webapp.internal_events import current
from webapp.internal_events.service_ping import metric_values

from helpers import sign_in

API = "/api/v4/usage_data"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
HLL, COUNTS = "redis_hll_counters.", "counts."
HELP = {"event": "help_link_clicked", "additional_properties": {"label": "projects"}}


def post(client, path, body, headers=SAME_ORIGIN, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    kwargs.setdefault("content_type", "application/json")
    return client.post(f"{API}/{path}", data=data, headers=headers, **kwargs)


def values(app):
    with app.app_context():
        return metric_values(current())


def nothing_counted(app):
    return not any(values(app).values())


@pytest.fixture
def demo_ids(demo):
    """Ids of the demo data by name: users, namespaces (by path) and projects (by full path)."""
    with demo.app_context():
        admin = users.by_username("admin")
        found = {u.username: u.id for u in users.everyone()}
        for path in ("acme", "secret-lab", "alice", "bob"):
            found[path + "/"] = namespaces.by_path(path).id
        for full in ("acme/website", "acme/billing", "secret-lab/prototype", "alice/dotfiles", "bob/notes"):
            found[full] = projects.visible_by_path(admin, *full.split("/")).id
    return found


@pytest.fixture
def bob(client_for):
    return client_for("bob")


# -- recording ----------------------------------------------------------------------------------


def test_track_event_counts_for_the_signed_in_user_and_the_project(bob, demo, demo_ids):
    response = post(
        bob,
        "track_event",
        {"event": "project_viewed", "project_id": demo_ids["acme/website"], "namespace_id": demo_ids["acme/"]},
    )
    assert response.status_code == 200
    assert response.get_json() == {"event": "project_viewed", "accepted": True}
    counted = values(demo)
    assert counted[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 1
    assert counted[HLL + "count_distinct_user_id_from_project_viewed_monthly"] == 1


def test_track_events_answers_per_event_and_counts_only_the_accepted(bob, demo, demo_ids):
    response = post(
        bob,
        "track_events",
        {
            "events": [
                {
                    "event": "clone_button_clicked",
                    "project_id": demo_ids["acme/website"],
                    "additional_properties": {"label": "ssh"},
                },
                {
                    "event": "clone_button_clicked",
                    "project_id": demo_ids["secret-lab/prototype"],
                    "additional_properties": {"label": "ssh"},
                },
                {"event": "no_such_event"},
                {"event": "help_link_clicked", "additional_properties": {"label": "cloning"}},
                "not an object",
            ]
        },
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "accepted": 2,
        "refused": 3,
        "results": [
            {"event": "clone_button_clicked", "accepted": True},
            {
                "event": "clone_button_clicked",
                "accepted": False,
                "status": 404,
                "error": f"project {demo_ids['secret-lab/prototype']} not found",
            },
            {"event": "no_such_event", "accepted": False, "status": 400, "error": "unknown event 'no_such_event'"},
            {"event": "help_link_clicked", "accepted": True},
            {"event": None, "accepted": False, "status": 400, "error": "an event must be a JSON object, got str"},
        ],
    }
    counted = values(demo)
    assert counted[COUNTS + "count_total_clone_button_clicked_with_ssh"] == 1
    assert counted[COUNTS + "count_total_help_link_clicked"] == 1


def test_a_batch_is_written_in_one_redis_round_trip(bob, demo, demo_ids):
    with demo.app_context():
        counters = current().counters
    writes = []
    original = counters.write
    counters.write = lambda write_batch, *batch_id: writes.append(write_batch) or original(write_batch, *batch_id)
    try:
        batch = [{"event": "help_link_clicked", "additional_properties": {"label": f"topic-{i}"}} for i in range(49)]
        batch.append({"event": "project_viewed", "project_id": demo_ids["acme/website"]})
        assert post(bob, "track_events", {"events": batch}).get_json()["accepted"] == 50
    finally:
        del counters.write
    assert len(writes) == 1  # one write: one script call per event slot, pipelined together
    counted = values(demo)
    assert counted[COUNTS + "count_total_help_link_clicked"] == 49
    assert counted[HLL + "count_distinct_label_from_help_link_clicked_weekly"] == 49
    assert counted[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 1


def test_send_beacon_text_plain_bodies_are_read(bob, demo, demo_ids):
    body = json.dumps({"events": [{"event": "group_viewed", "namespace_id": demo_ids["acme/"]}]})
    response = post(bob, "track_events", body, content_type="text/plain;charset=UTF-8")
    assert response.get_json()["accepted"] == 1
    assert values(demo)[HLL + "count_distinct_namespace_id_from_group_viewed_weekly"] == 1


def test_the_user_is_always_the_sessions(client_for, demo, demo_ids):
    for username in ("alice", "bob", "bob"):
        post(client_for(username), "track_event", {"event": "dashboard_chart_viewed"})
    assert values(demo)[HLL + "count_distinct_user_id_from_dashboard_chart_viewed_weekly"] == 2
    forged = post(client_for("bob"), "track_event", {"event": "dashboard_chart_viewed", "user_id": demo_ids["alice"]})
    assert forged.status_code == 400
    assert "events are always recorded for the signed-in user" in forged.get_json()["error"]


def test_admins_record_for_any_project(client_for, demo, demo_ids):
    response = post(
        client_for("admin"), "track_event", {"event": "project_viewed", "project_id": demo_ids["bob/notes"]}
    )
    assert response.status_code == 200
    assert values(demo)[HLL + "count_distinct_project_id_from_project_viewed_weekly"] == 1


# -- refusals: nothing counted ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"event": "project_viewed", "project_id": "secret-lab/prototype"}, 404, "project {} not found"),
        ({"event": "project_viewed", "project_id": 999999}, 404, "project 999999 not found"),
        ({"event": "group_viewed", "namespace_id": "secret-lab/"}, 404, "namespace {} not found"),
        ({"event": "group_viewed", "namespace_id": "alice/"}, 404, "namespace {} not found"),  # personal, not bob's
        (
            {"event": "project_viewed", "project_id": "acme/website", "namespace_id": "secret-lab/"},
            400,
            "is not the namespace of project",
        ),
        ({"event": "project_viewed", "namespace_id": "acme/"}, 400, "missing data its metrics count"),
        (
            {"event": "clone_button_clicked", "project_id": "acme/website", "additional_properties": {"label": 5}},
            400,
            "Additional property 'label' of event 'clone_button_clicked' must be a string, got 5",
        ),
        (
            {"event": "clone_button_clicked", "project_id": "acme/website", "additional_properties": {"x": 1}},
            400,
            "Unknown additional property 'x'",
        ),
        ({"event": "no_such_event"}, 400, "unknown event 'no_such_event'"),
        ({"event": "x" * 5000}, 400, "unknown event 'xxxxxxxx"),
        ({"event": 7}, 400, "'event' must be a non-empty string, got 7"),
        ({"event": ""}, 400, "'event' must be a non-empty string"),
        ({"project_id": 1}, 400, "missing field 'event'"),
        (
            {"event": "project_viewed", "project_id": "1"},
            400,
            "'project_id' must be an integer from 0 to 2147483647 or null, got '1'",
        ),
        (
            {"event": "project_viewed", "project_id": True},
            400,
            "'project_id' must be an integer from 0 to 2147483647 or null",
        ),
        (
            {"event": "project_viewed", "project_id": -3},
            400,
            "'project_id' must be an integer from 0 to 2147483647 or null",
        ),
        (
            {"event": "project_viewed", "project_id": 1.5},
            400,
            "'project_id' must be an integer from 0 to 2147483647 or null",
        ),
        (
            {"event": "project_viewed", "project_id": 2**40},
            400,
            "'project_id' must be an integer from 0 to 2147483647 or null",
        ),
        (
            {"event": "group_viewed", "namespace_id": [1]},
            400,
            "'namespace_id' must be an integer from 0 to 2147483647 or null",
        ),
        (
            {"event": "help_link_clicked", "additional_properties": ["label"]},
            400,
            "'additional_properties' must be a JSON object",
        ),
        ({"event": "help_link_clicked", "colour": "red"}, 400, "unknown field 'colour'"),
        (["help_link_clicked"], 400, "an event must be a JSON object, got list"),
    ],
)
def test_bad_events_are_refused_with_a_reason_and_count_nothing(bob, demo, demo_ids, body, status, message):
    if isinstance(body, dict):
        body = {k: demo_ids[v] if isinstance(v, str) and v in demo_ids else v for k, v in body.items()}
        message = message.format(body.get("project_id") if "project" in message else body.get("namespace_id"))
    single = post(bob, "track_event", body)
    assert single.status_code == status
    assert message in single.get_json()["error"]
    assert len(single.get_json()["error"]) < 400  # a hostile value is not echoed in full
    batch = post(bob, "track_events", {"events": [body]})
    assert batch.status_code == 200
    (result,) = batch.get_json()["results"]
    assert (result["accepted"], result["status"]) == (False, status) and message in result["error"]
    name = body.get("event") if isinstance(body, dict) else None
    assert result["event"] == (name if isinstance(name, str) and len(name) <= 100 else None)  # never a flood
    assert nothing_counted(demo)


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("track_event", b"{not json", "body is not valid JSON"),
        ("track_event", b"\xff\xfe\x00garbage", "body is not valid JSON"),
        ("track_event", b"", "body is not valid JSON"),
        ("track_event", b"[" * 30000 + b"]" * 30000, "body is not valid JSON"),
        ("track_event", b'{"event": "x", "project_id": ' + b"9" * 5000 + b"}", "body is not valid JSON"),
        (
            "track_events",
            b'{"event": "help_link_clicked", "additional_properties": {"label": "x"}}',
            """body must be a JSON object {"events": [...]}""",
        ),
        (
            "track_events",
            b'{"events": {"event": "help_link_clicked", "additional_properties": {"label": "x"}}}',
            "'events' must be a list, got dict",
        ),
        ("track_events", b'{"events": []}', "'events' is empty"),
        ("track_events", b'{"events": [], "user_id": 1}', "unknown field 'user_id'"),
        ("track_events", json.dumps({"events": [HELP] * 51}).encode(), "Maximum 50 events allowed in one request."),
    ],
)
def test_bad_bodies_are_refused_with_400(bob, demo, path, body, message):
    response = post(bob, path, body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert nothing_counted(demo)


def test_oversized_bodies_are_refused_with_413(bob, demo):
    events = [{"event": "help_link_clicked", "additional_properties": {"label": "x" * 250}}] * 50
    big = json.dumps({"events": events * 6})
    assert len(big) > 64 * 1024
    response = post(bob, "track_events", big)
    assert response.status_code == 413
    assert "body is larger than 65536 bytes" in response.get_json()["error"]
    chunked = bob.post(
        f"{API}/track_events",
        input_stream=io.BytesIO(big.encode()),
        content_type="text/plain",
        headers={**SAME_ORIGIN, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 413
    assert nothing_counted(demo)


def test_other_content_types_are_refused_with_415(bob, demo):
    response = bob.post(f"{API}/track_event", data={"event": "help_link_clicked"}, headers=SAME_ORIGIN)
    assert response.status_code == 415
    assert "application/json or text/plain" in response.get_json()["error"]
    assert nothing_counted(demo)


def test_signed_out_callers_get_401_and_nothing_is_counted(demo):
    client = demo.test_client()
    for path, body in (("track_event", HELP), ("track_events", {"events": [HELP]})):
        response = post(client, path, body)
        assert response.status_code == 401
        assert "sign in" in response.get_json()["error"]
    assert nothing_counted(demo)


def test_wrong_method_answers_405_in_json(bob):
    response = bob.get(f"{API}/track_event")
    assert response.status_code == 405
    assert response.get_json()["status"] == 405 and "POST" in response.headers["Allow"]


# -- cross-site requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, message",
    [
        ({"Origin": "https://evil.example"}, "cross-origin request refused (Origin: https://evil.example)"),
        ({"Origin": "null"}, "cross-origin request refused"),
        ({"Origin": "http://localhost.evil.example"}, "cross-origin request refused"),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, "Sec-Fetch-Site: cross-site"),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"}, "Sec-Fetch-Site: same-site"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({}, "no Origin or Sec-Fetch-Site header"),
        ({"X-CSRF-Token": "guessed"}, "no Origin or Sec-Fetch-Site header"),
    ],
)
def test_cross_site_requests_are_refused_and_count_nothing(bob, demo, headers, message):
    for content_type in ("application/json", "text/plain"):
        response = post(bob, "track_event", HELP, headers=headers, content_type=content_type)
        assert response.status_code == 403
        assert message in response.get_json()["error"]
    assert nothing_counted(demo)


@pytest.mark.parametrize("headers", [{"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}])
def test_either_same_origin_header_is_enough(bob, demo, headers):
    assert post(bob, "track_event", HELP, headers=headers).status_code == 200


def test_the_pages_csrf_token_stands_in_for_missing_origin_headers(bob, demo):
    token = bob.get("/").text.split('name="csrf-token" content="')[1].split('"')[0]
    response = post(bob, "track_event", HELP, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert values(demo)[COUNTS + "count_total_help_link_clicked"] == 1


# -- rate limit ---------------------------------------------------------------------------------


@pytest.fixture
def limited(make_demo):
    """The demo app allowing 3 events per user per minute."""
    return make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=3, INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW=60)


def test_rate_limit_refuses_with_429_and_retry_after(limited):
    alice = sign_in(limited.test_client(), "alice")
    batch = {"events": [HELP] * 2}
    assert post(alice, "track_events", batch).status_code == 200
    assert post(alice, "track_event", HELP).status_code == 200
    refused = post(alice, "track_event", HELP)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "rate limit of 3 events per 60 s" in refused.get_json()["error"]
    assert values(limited)[COUNTS + "count_total_help_link_clicked"] == 3
    other = sign_in(limited.test_client(), "bob")
    assert post(other, "track_event", HELP).status_code == 200  # per user


def test_a_batch_over_the_limit_is_refused_whole(limited):
    alice = sign_in(limited.test_client(), "alice")
    assert post(alice, "track_events", {"events": [HELP] * 4}).status_code == 429
    assert nothing_counted(limited)


def test_rate_limit_is_shared_through_redis_by_every_process(limited, make_demo):
    second_process = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=3)
    first, second = sign_in(limited.test_client(), "alice"), sign_in(second_process.test_client(), "alice")
    assert post(first, "track_events", {"events": [HELP] * 3}).status_code == 200
    assert post(second, "track_event", HELP).status_code == 429


def test_rate_limit_zero_turns_it_off(make_demo):
    app = make_demo(INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT=0)
    alice = sign_in(app.test_client(), "alice")
    for _ in range(3):
        assert post(alice, "track_events", {"events": [HELP] * 50}).status_code == 200
    assert values(app)[COUNTS + "count_total_help_link_clicked"] == 150


def test_rate_limit_windows_start_afresh(redis_client, key_prefix):
    window, limit = 60, RateLimit(3, 60)
    start = 1_000_000 * window + 10  # 10 s into a window
    assert limit.retry_after(redis_client, key_prefix, 7, 3, now=start) is None
    assert limit.retry_after(redis_client, key_prefix, 7, 1, now=start + 5) == 45
    assert limit.retry_after(redis_client, key_prefix, 7, 1, now=start + 49.6) == 1  # rounds up, never 0
    assert limit.retry_after(redis_client, key_prefix, 7, 3, now=start + 50) is None  # the next window
    assert limit.retry_after(redis_client, key_prefix, 8, 3, now=start + 5) is None  # another user
    assert 0 < redis_client.ttl(f"{key_prefix}{{rate_limit:7}}:{1_000_001}") <= window + 1


def test_rate_limit_takes_the_allowance_from_redis_in_blocks(redis_client, key_prefix):
    limit, now = RateLimit(500, 3600), 1_000_000 * 3600 + 10
    key = f"{key_prefix}{{rate_limit:7}}:{1_000_000}"
    assert limit.block == 10
    for _ in range(10):
        assert limit.retry_after(redis_client, key_prefix, 7, 1, now=now) is None
    assert int(redis_client.get(key)) == 10  # ten events, one round trip
    assert limit.retry_after(redis_client, key_prefix, 7, 4, now=now) is None
    assert limit.retry_after(redis_client, key_prefix, 7, 25, now=now) is None  # more than is left, or in a block
    assert int(redis_client.get(key)) == 39  # the 6 left of the second block, and just the 19 missing


def test_processes_sharing_a_limit_never_pass_it_and_strand_at_most_a_block_each(redis_client, key_prefix):
    processes, now = [RateLimit(500, 3600) for _ in range(3)], 1_000_000 * 3600 + 10
    accepted = 0
    for turn in range(700):  # users send single events and batches, spread over the processes
        amount = 1 if turn % 3 else 7 if turn % 5 else 50
        if processes[turn % len(processes)].retry_after(redis_client, key_prefix, 7, amount, now=now) is None:
            accepted += amount
    assert 500 - (len(processes) - 1) * processes[0].block <= accepted <= 500


def test_rate_limit_comes_from_the_environment():
    from webapp.demo.config import ConfigError, from_environment

    settings = from_environment(
        {
            "WEBAPP_ENV": "test",
            "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": "20",
            "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW": "10",
        }
    )
    assert (
        settings["INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT"],
        settings["INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW"],
    ) == (20, 10)
    with pytest.raises(ConfigError, match="INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT='lots' must be a whole number"):
        from_environment({"WEBAPP_ENV": "test", "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": "lots"})
    with pytest.raises(
        ConfigError, match=r"INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW='0' must be a whole number \(1 or more\)"
    ):
        from_environment({"WEBAPP_ENV": "test", "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW": "0"})


# -- admin-only listings ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{API}/service_ping", "/micro/good", "/micro/bad", "/micro/all"])
def test_listings_are_for_admins_only(demo, client_for, url):
    assert demo.test_client().get(url).status_code == 401
    refused = client_for("bob").get(url)
    assert refused.status_code == 403 and refused.get_json()["error"] == "administrators only"
    assert client_for("admin").get(url).status_code == 200


def test_service_ping_shows_counts_recorded_through_the_api(bob, client_for, demo_ids):
    post(
        bob,
        "track_events",
        {
            "events": [
                {"event": "project_viewed", "project_id": demo_ids["acme/website"]},
                {"event": "project_viewed", "project_id": demo_ids["acme/billing"]},
            ]
        },
    )
    ping = client_for("admin").get(f"{API}/service_ping").get_json()
    assert ping["redis_hll_counters"]["count_distinct_project_id_from_project_viewed_weekly"] == 2
    assert ping["redis_hll_counters"]["count_distinct_user_id_from_project_viewed_weekly"] == 1


def test_the_api_answers_without_redis(make_demo):
    app = make_demo(REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens on port 9
    response = post(sign_in(app.test_client(), "alice"), "track_event", HELP)
    assert response.status_code == 200
    assert app.extensions["internal_events"].delivery.status()["pending"] == 1  # spooled for later
