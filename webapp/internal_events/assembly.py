"""Assembling the tracker from configuration: the only place that knows every part."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .counters import CounterStore
from .delivery import REDIS_FAILURES, CounterDelivery
from .event_level import EventLevel
from .journal import Journal
from .keys import KeySpace
from .live_definitions import LiveDefinitions
from .opt_outs import OptOuts
from .privacy_signals import DEFAULT_POLICY, check_policy
from .pseudonym_key import pseudonym_key
from .redis_connection import connect, describe
from .settings import (
    DEFAULT_SNOWPLOW_OUTBOX_LIMIT,
    DEFAULT_SPOOL_LIMIT,
    ConfigError,
    collector_token,
    raises_on_tracking_errors,
)
from .spool import Spool
from .switches import Switches
from .tracker import Tracker

if TYPE_CHECKING:
    from .snowplow import SnowplowSender

# Edited definitions are picked up within this many seconds by a background check. Tests reload when they
# edit (0: no background thread outliving each test's app and folder).
RELOAD_CHECK_SECONDS = {"development": 1.0, "test": 0, "production": 10.0}
SPOOL_FILE = "internal-events-spool.sqlite3"
JOURNAL_FOLDER = "internal-events-journal"  # beside the spool file
OPT_OUTS_FILE = "internal-events-opt-outs.sqlite3"
PARSE_CACHE_FILE = "internal-events-parsed-definitions.json"  # parsed definition files, by content


def build(config: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> Tracker:
    env = config["WEBAPP_ENV"]
    collector = config.get("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL")
    definitions = LiveDefinitions(
        config["INTERNAL_EVENTS_DEFINITIONS"],
        check_interval=RELOAD_CHECK_SECONDS[env],
        strict=raises_on_tracking_errors(env) and not config.get("INTERNAL_EVENTS_SKIP_INVALID"),
        cache=Path(instance_path) / PARSE_CACHE_FILE,
    )
    url, prefix = config.get("REDIS_URL"), config["INTERNAL_EVENTS_KEY_PREFIX"]
    counters = CounterStore(connect(url, instance_path), KeySpace(prefix))
    spool_path = Path(config.get("INTERNAL_EVENTS_SPOOL_PATH") or Path(instance_path) / SPOOL_FILE)
    target = f"{describe(url, instance_path)} prefix={prefix}"
    spool = Spool(spool_path, config.get("INTERNAL_EVENTS_SPOOL_LIMIT", DEFAULT_SPOOL_LIMIT), target=target)
    journal = Journal(spool_path.with_name(JOURNAL_FOLDER), target)
    key = pseudonym_key(config.get("INTERNAL_EVENTS_PSEUDONYM_KEY"), instance_path)
    return Tracker(
        definitions=definitions,
        counters=counters,
        delivery=CounterDelivery(counters, spool, definitions.current, journal),
        privacy=_privacy(config, counters, instance_path, key),
        snowplow=_snowplow(config, collector, counters, instance_path, key) if collector else None,
        environment=env,
        raise_errors=raises_on_tracking_errors(env),
        write_behind=config["INTERNAL_EVENTS_WRITE_BEHIND"],
    )


def _snowplow(
    config: Mapping[str, Any],
    collector: str,
    counters: CounterStore,
    instance_path: str | os.PathLike[str],
    key: str,
) -> "SnowplowSender":
    # Imported here: the Snowplow tracker and requests take ~0.1 s to import, which an app without a collector
    # (and every `flask internal-events` command it runs) would pay at start.
    from .snowplow import SnowplowSender
    from .snowplow_outbox import Outbox, SharedCount, outbox_file

    folder = config.get("INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR") or Path(instance_path)
    outbox = Outbox(
        outbox_file(folder, collector),
        config.get("INTERNAL_EVENTS_SNOWPLOW_OUTBOX_LIMIT", DEFAULT_SNOWPLOW_OUTBOX_LIMIT),
    )
    unkept = SharedCount(counters.redis, counters.keys.internal(f"snowplow:unkept:{outbox.path.name}"), REDIS_FAILURES)
    return SnowplowSender(
        collector,
        config["INTERNAL_EVENTS_SNOWPLOW_APP_ID"],
        config["WEBAPP_ENV"],
        key,
        outbox,
        unkept,
        token=collector_token(config),
        vendor=config.get("INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR"),
    )


def _privacy(
    config: Mapping[str, Any], counters: CounterStore, instance_path: str | os.PathLike[str], key: str
) -> EventLevel:
    try:
        policy = check_policy(config.get("INTERNAL_EVENTS_PRIVACY_SIGNALS") or DEFAULT_POLICY)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    switches = Switches(
        counters.redis,
        counters.keys.internal("switches"),
        {
            "snowplow": config.get("INTERNAL_EVENTS_SNOWPLOW", True),
            "service_ping": config.get("INTERNAL_EVENTS_SERVICE_PING", True),
        },
    )
    opt_outs = OptOuts(config.get("INTERNAL_EVENTS_OPT_OUTS_PATH") or Path(instance_path) / OPT_OUTS_FILE)
    return EventLevel(policy, switches, opt_outs, key)
