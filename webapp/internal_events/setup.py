"""Assembling InternalEvents from configuration: the only place that knows every part."""

from pathlib import Path

from ..config import DEFAULT_SPOOL_LIMIT, raises_on_tracking_errors
from ..redis_connection import connect, describe
from .counters import CounterStore
from .delivery import CounterDelivery
from .keys import KeySpace
from .live_definitions import LiveDefinitions
from .snowplow import SnowplowSender
from .spool import Spool
from .tracker import InternalEvents

# Edited definitions are picked up within this many seconds by a background check. Tests reload when they
# edit (0: no background thread outliving each test's app and folder).
RELOAD_CHECK_SECONDS = {"development": 1.0, "test": 0, "production": 10.0}
SPOOL_FILE = "internal-events-spool.sqlite3"


def build(config, instance_path):
    env = config["WEBAPP_ENV"]
    collector = config.get("SNOWPLOW_COLLECTOR_URL")
    definitions = LiveDefinitions(
        config["INTERNAL_EVENTS_DEFINITIONS"],
        check_interval=RELOAD_CHECK_SECONDS[env],
        strict=raises_on_tracking_errors(env) and not config.get("INTERNAL_EVENTS_SKIP_INVALID"),
    )
    url, prefix = config.get("REDIS_URL"), config["REDIS_KEY_PREFIX"]
    counters = CounterStore(connect(url, instance_path), KeySpace(prefix))
    spool = Spool(
        config.get("INTERNAL_EVENTS_SPOOL_PATH") or Path(instance_path) / SPOOL_FILE,
        config.get("INTERNAL_EVENTS_SPOOL_LIMIT", DEFAULT_SPOOL_LIMIT),
        target=f"{describe(url, instance_path)} prefix={prefix}",
    )
    return InternalEvents(
        definitions=definitions,
        counters=counters,
        delivery=CounterDelivery(counters, spool, definitions.current),
        snowplow=SnowplowSender(collector, config["SNOWPLOW_APP_ID"], env,
                                vendor=config.get("SNOWPLOW_IGLU_VENDOR")) if collector else None,
        environment=env,
        raise_errors=raises_on_tracking_errors(env),
        write_behind=config["WRITE_BEHIND"],
    )
