"""The same events on a real 3-node Redis Cluster and on a single server give every metric the same value."""

import random
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from redis.cluster import RedisCluster

from webapp.dashboard_data import OverviewMemory, catalogue, figures, overview
from webapp.internal_events.service_ping import metric_values

from helpers import csrf_token_of, sign_in
from servers import AppServer, RedisClusterServers

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)

EXTRA_METRICS = {
    # Unique users over three events: a union of HyperLogLogs living in three different slots.
    "count_distinct_user_id_from_project_activity.yml": """
        key_path: redis_hll_counters.count_distinct_user_id_from_project_activity
        time_frame: [7d, 28d]
        events:
        - {name: project_viewed, unique: user.id}
        - {name: project_created, unique: user.id}
        - {name: issue_created, unique: user.id}
    """,
    "count_total_project_starred_or_created.yml": """
        key_path: counts.count_total_project_starred_or_created
        time_frame: [7d, 28d, all]
        events:
        - {name: project_starred}
        - {name: project_created}
    """,
    "sum_chart_weeks.yml": """
        key_path: counts.sum_value_from_dashboard_chart_viewed
        time_frame: [7d, 28d, all]
        events:
        - {name: dashboard_chart_viewed, operator: sum(value)}
    """,
}
COMMON_FIELDS = """\
description: Added by the cluster test
product_group: analytics_instrumentation
value_type: number
status: active
milestone: '1.0'
data_source: internal_events
data_category: optional
tiers: [free]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    servers = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    try:
        yield servers.start()
    finally:
        servers.stop()


@pytest.fixture
def definitions_with_extras(definitions_dir):
    folder = definitions_dir / "metrics" / "extra"
    folder.mkdir()
    for name, text in EXTRA_METRICS.items():
        (folder / name).write_text(COMMON_FIELDS + textwrap.dedent(text))
    return definitions_dir


def random_calls(rng, count):
    """A varied stream: every event, repeated ids, labels, filters, int and float sums."""
    calls = []
    for _ in range(count):
        ids = {"user_id": rng.randint(1, 60), "namespace_id": rng.randint(1, 8), "project_id": rng.randint(1, 30)}
        kind = rng.randrange(7)
        if kind == 0:
            calls.append(
                {
                    "event": "clone_button_clicked",
                    **ids,
                    "additional_properties": {"label": rng.choice(["ssh", "https"])},
                }
            )
        elif kind == 1:
            calls.append(
                {
                    "event": "help_link_clicked",
                    "user_id": ids["user_id"],
                    "additional_properties": {"label": f"page-{rng.randint(1, 25)}"},
                }
            )
        elif kind == 2:
            value = rng.choice([rng.randint(1, 12), rng.randint(1, 40) / 4])
            calls.append(
                {
                    "event": "dashboard_chart_viewed",
                    **ids,
                    "additional_properties": {"label": "activity", "value": value},
                }
            )
        else:
            event = ["project_viewed", "project_created", "issue_created", "project_starred"][kind - 3]
            calls.append({"event": event, **ids})
    return calls


def test_every_metric_matches_a_single_server(cluster, make_events, definitions_with_extras, redis_client):
    on_cluster = make_events(REDIS_URL=cluster.url)
    on_server = make_events()
    assert isinstance(on_cluster.counters.redis, RedisCluster)
    assert not isinstance(on_server.counters.redis, RedisCluster)

    rng = random.Random(7)
    # Days spread over 40 days so the 7d, 28d and all-time windows each see different events.
    for days_ago in (39, 27, 20, 8, 6, 3, 1, 0):
        batch = random_calls(rng, 120)
        with time_machine.travel(NOW - timedelta(days=days_ago), tick=False):
            for events in (on_cluster, on_server):
                events.track_many(batch[:100])  # one multi-event round trip
                for call in batch[100:]:  # and single calls
                    arguments = dict(call)
                    events.track(arguments.pop("event"), **arguments)
                assert events.daily_pass.wait(30)

    with time_machine.travel(NOW, tick=False):
        expected = metric_values(on_server)
        actual = metric_values(on_cluster)
        activity = on_server.definitions.metric(
            "redis_hll_counters.count_distinct_user_id_from_project_activity_monthly"
        )
        weekly_server = on_server.counters.weekly_values(activity, NOW.date())
        weekly_cluster = on_cluster.counters.weekly_values(activity, NOW.date())
        overview_server, overview_cluster = (
            overview(events.counters, events.definitions, NOW.date(), "28d", OverviewMemory())
            for events in (on_server, on_cluster)
        )
        # the dictionary's values and changes: batched totals reads on the server, a read per key on the cluster
        figures_server, figures_cluster = (
            dict(zip((e.key_path for e in entries), figures(events.counters, entries, NOW.date())))
            for events in (on_server, on_cluster)
            for entries in [catalogue(events.definitions)[0]]
        )

    assert not on_cluster.errors and not on_server.errors
    assert actual == expected
    assert len(expected) == len(on_server.definitions.metrics)
    assert expected["redis_hll_counters.count_distinct_user_id_from_project_activity_monthly"] > 0
    assert expected["counts.count_total_project_starred_or_created"] > 0
    assert isinstance(expected["counts.sum_value_from_dashboard_chart_viewed"], float)
    assert weekly_cluster == weekly_server
    assert any(value for _, value in weekly_server)
    assert figures_cluster == figures_server
    assert figures_server["counts.count_total_project_starred_or_created"]["change"]["28d"] != 0
    assert isinstance(figures_server["counts.sum_value_from_dashboard_chart_viewed"]["values"]["all"], float)
    assert overview_cluster == overview_server  # each event's totals per day, read per key on a cluster
    assert (overview_server["figures"][2].value, overview_server["figures"][2].previous) == (7 * 120, 120)  # 28 days

    # The keys really were spread over the cluster's nodes, and merging left no scratch copy behind.
    nodes_with_keys = [
        node
        for node in on_cluster.counters.redis.get_primaries()
        if on_cluster.counters.redis.get_redis_connection(node).dbsize()
    ]
    assert len(nodes_with_keys) == 3
    assert not list(on_cluster.counters.redis.scan_iter(match="*scratch*"))


def test_collector_keeps_events_on_a_cluster(cluster, make_demo, make_events):
    server = AppServer(make_demo(REDIS_URL=cluster.url)).start()
    try:
        events = make_events(REDIS_URL=cluster.url, INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL=server.url)
        for project_id in range(1, 13):
            events.track("project_viewed", user_id=5, namespace_id=1, project_id=project_id)
        assert events.snowplow.flush(timeout=10)
        client = sign_in(server.app.test_client(), "admin")
        good = client.get("/micro/good").get_json()
        assert sorted(e["contexts"][0]["data"]["project_id"] for e in good) == list(range(1, 13))
        token = csrf_token_of(client.get("/").get_data(as_text=True))
        assert client.post("/micro/reset", headers={"X-CSRF-Token": token}).get_json()["total"] == 0
        assert client.get("/micro/all").get_json() == {"total": 0, "good": 0, "bad": 0, "duplicates": 0, "received": 0}
    finally:
        server.stop()


def test_one_batch_of_many_distinct_users_counts_everywhere(cluster, make_events):
    """9,000 elements for one HyperLogLog in one script call: beyond what Lua can unpack at once."""
    calls = [{"event": "project_created", "user_id": user, "project_id": 1, "namespace_id": 1} for user in range(9000)]
    counts = []
    for events in (make_events(REDIS_URL=cluster.url), make_events()):
        events.track_many(calls)
        assert not events.errors and not events.delivery.losses()
        counts.append(metric_values(events))
    assert counts[0] == counts[1]
    assert counts[0]["counts.count_total_project_created"] == 9000
    assert abs(counts[0]["redis_hll_counters.count_distinct_user_id_from_project_created_weekly"] - 9000) < 9000 * 0.03
