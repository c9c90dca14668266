"""The collector takes events only from its app's own tracker, keeps a bounded store, and never answers 500."""

import json
import secrets

import pytest
import requests

from webapp import create_app
from webapp.collector import KEEP, MAX_RECORD_BYTES
from webapp.demo.config import from_environment

from helpers import collector_headers, csrf_token_of

TP2 = "/com.snowplowanalytics.snowplow/tp2"
PAYLOAD = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
FORGED = {
    "schema": PAYLOAD,
    "data": [
        {
            "e": "se",
            "eid": "forged-1",
            "se_ca": "InternalEventTracking",
            "se_ac": "admin_area_viewed",
            "se_la": "by admin",
        }
    ],
}


def stored(client, kind="good"):
    return client.get(f"/micro/{kind}").get_json()


def test_a_cross_site_text_plain_post_stores_nothing(demo, client_for):
    """The attack: a page on another site posts a fake 'admin_area_viewed by admin' with a simple request."""
    attacker = demo.test_client()
    response = attacker.post(
        TP2,
        data=json.dumps(FORGED),
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403 and "cross-site" in response.get_json()["error"]
    same_token_other_site = attacker.post(
        TP2, data=json.dumps(FORGED), headers={**collector_headers(demo.config), "Origin": "http://evil.example"}
    )
    assert same_token_other_site.status_code == 403
    admin = client_for("admin")
    assert stored(admin) == [] and stored(admin, "bad") == []


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer wrong", "Basic abc"])
def test_senders_without_the_token_are_refused(demo, client_for, authorization):
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = demo.test_client().post(TP2, data=json.dumps(FORGED), headers=headers)
    assert response.status_code == 401
    assert "collector token" in response.get_json()["error"]
    pixel = demo.test_client().get("/i", query_string=FORGED["data"][0])
    assert pixel.status_code == 401
    assert stored(client_for("admin")) == []


def test_the_app_s_own_token_is_taken_and_an_explicit_one_wins(demo, make_demo, client_for):
    ok = demo.test_client().post(TP2, data=json.dumps(FORGED), headers=collector_headers(demo.config))
    assert ok.get_json() == {"good": 1, "bad": 0, "duplicates": 0}
    explicit = make_demo(INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN="shared-between-apps")
    derived = explicit.test_client().post(TP2, data=json.dumps(FORGED), headers=collector_headers(demo.config))
    assert derived.status_code == 401
    shared = explicit.test_client().post(
        TP2,
        data=json.dumps(FORGED),
        headers={"Authorization": "Bearer shared-between-apps", "Content-Type": "application/json"},
    )
    assert shared.status_code == 200


def test_a_json_body_of_another_type_is_refused(demo):
    response = demo.test_client().post(
        TP2, data=json.dumps(FORGED), headers={**collector_headers(demo.config), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415 and "application/json" in response.get_json()["error"]


def test_deeply_nested_json_answers_400_not_500(demo, client_for):
    client, headers = demo.test_client(), collector_headers(demo.config)
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post(TP2, data=f'{{"schema": "{PAYLOAD}", "data": {deep}}}', headers=headers)
    assert response.status_code == 400 and "payload_data" in response.get_json()["error"]

    moderately = {"schema": PAYLOAD, "data": [json.loads("[" * 500 + "]" * 500)]}
    response = client.post(TP2, data=json.dumps(moderately), headers=headers)
    assert response.get_json() == {"good": 0, "bad": 1, "duplicates": 0}

    contexts = '{"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1", "data": %s}'
    for nesting in (100_000, 500):
        event = {
            "e": "se",
            "eid": f"deep-{nesting}",
            "se_ca": "c",
            "se_ac": "a",
            "co": contexts % ("[" * nesting + "]" * nesting),
        }
        response = client.post(TP2, data=json.dumps({"schema": PAYLOAD, "data": [event]}), headers=headers)
        assert response.get_json() == {"good": 0, "bad": 1, "duplicates": 0}
    bad = client_for("admin").get("/micro/bad")
    assert bad.status_code == 200 and len(bad.get_json()) == 3


def test_each_stored_event_and_the_whole_store_are_capped(demo, client_for, redis_client, key_prefix):
    """Before, 1 MB bodies pinned about 2.15 MB of Redis each, up to about 14 GB."""
    client, headers = demo.test_client(), collector_headers(demo.config)
    huge = [{"e": "se", "eid": f"big-{i}", "se_ca": "c", "se_ac": "a", "se_la": "x" * 90_000} for i in range(11)]
    response = client.post(TP2, data=json.dumps({"schema": PAYLOAD, "data": huge}), headers=headers)
    assert response.get_json() == {"good": 0, "bad": 11, "duplicates": 0}
    many = [{"e": "se", "eid": f"small-{i}", "se_ca": "c", "se_ac": "a"} for i in range(KEEP + 200)]
    client.post(TP2, data=json.dumps({"schema": PAYLOAD, "data": many}), headers=headers)

    for kind in ("good", "bad"):
        key = f"{key_prefix}{{_internal}}:collector:{kind}"
        records = redis_client.lrange(key, 0, -1)
        assert len(records) <= KEEP
        assert max(len(r) for r in records) <= MAX_RECORD_BYTES
    (record, *_) = stored(client_for("admin"), "bad")
    assert record["event_id"] == "big-10" and "over" in record["errors"][-1]
    assert client_for("admin").get("/micro/all").get_json()["received"] == KEEP + 200


def test_an_id_is_marked_seen_only_once_its_event_is_stored(demo, client_for, redis_client, key_prefix):
    """Redis refuses the store (a key of the wrong type): the sender gets 503 and its resend is kept, not a duplicate."""
    client, headers = demo.test_client(), collector_headers(demo.config)
    good_list = f"{key_prefix}{{_internal}}:collector:good"
    redis_client.set(good_list, "not a list")
    refused = client.post(TP2, data=json.dumps(FORGED), headers=headers)
    assert refused.status_code == 503 and refused.headers["Retry-After"]

    redis_client.delete(good_list)
    resent = client.post(TP2, data=json.dumps(FORGED), headers=headers)
    assert resent.get_json() == {"good": 1, "bad": 0, "duplicates": 0}
    assert [e["event_id"] for e in stored(client_for("admin"))] == ["forged-1"]


def test_reset_takes_a_post_with_the_csrf_token(demo, client_for):
    demo.test_client().post(TP2, data=json.dumps(FORGED), headers=collector_headers(demo.config))
    admin = client_for("admin")
    assert admin.get("/micro/reset").status_code in (404, 405)
    assert admin.post("/micro/reset").status_code == 403
    assert client_for("bob").post("/micro/reset").status_code == 403
    assert len(stored(admin)) == 1

    token = csrf_token_of(admin.get("/").get_data(as_text=True))
    assert admin.post("/micro/reset", headers={"X-CSRF-Token": token}).status_code == 200
    assert stored(admin) == []


@pytest.mark.parametrize(
    "setting, on", [("0", False), ("false", False), ("off", False), ("1", True), ("true", True), (None, False)]
)
def test_collector_enabled_is_read_from_the_environment(setting, on, config, demo_database, tmp_path):
    environ = {"WEBAPP_ENV": "production", "SECRET_KEY": "x" * 32}
    if setting is not None:
        environ["INTERNAL_EVENTS_COLLECTOR_ENABLED"] = setting
    settings = {
        key: value for key, value in from_environment(environ).items() if key == "INTERNAL_EVENTS_COLLECTOR_ENABLED"
    }
    app = create_app({**config, "WEBAPP_ENV": "production", "SECRET_KEY": secrets.token_hex(32), **settings})
    assert ("collector" in app.blueprints) is on


def test_collector_is_on_outside_production_unless_turned_off(config):
    assert "collector" in create_app(config).blueprints
    assert "collector" not in create_app({**config, "INTERNAL_EVENTS_COLLECTOR_ENABLED": "0"}).blueprints


def test_a_live_tracker_still_reaches_its_own_collector(collecting_server, live_session_for):
    """The app as its own collector (as under `make run` and `make serve`) needs no setting."""
    app, _ = collecting_server
    events = app.extensions["internal_events"]
    events.track("project_viewed", user_id=1, namespace_id=1, project_id=3)
    assert events.snowplow.flush(timeout=10)
    assert [e["action"] for e in live_session_for("admin").get("/micro/good").json()] == ["project_viewed"]
    assert requests.post(f"{events.snowplow.collector_url}{TP2}", json=FORGED, timeout=5).status_code == 401
