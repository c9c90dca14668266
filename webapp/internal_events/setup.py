"""Assembling InternalEvents from configuration: the only place that knows every part."""

from pathlib import Path

from ..config import DEFAULT_SPOOL_LIMIT, raises_on_tracking_errors
from ..redis_connection import connect, describe
from .counters import CounterStore
from .delivery import CounterDelivery
from .journal import Journal
from .keys import KeySpace
from .live_definitions import LiveDefinitions
from .snowplow import SnowplowSender
from .spool import Spool
from .tracker import InternalEvents

# Outside development, edited definitions are picked up within this many seconds.
RELOAD_CHECK_SECONDS = 10.0
SPOOL_FILE = "internal-events-spool.sqlite3"
JOURNAL_FOLDER = "internal-events-journal"  # beside the spool file


def build(config, instance_path):
    env = config["WEBAPP_ENV"]
    collector = config.get("SNOWPLOW_COLLECTOR_URL")
    definitions = LiveDefinitions(
        config["INTERNAL_EVENTS_DEFINITIONS"],
        check_interval=1.0 if env == "development" else RELOAD_CHECK_SECONDS,
    )
    url, prefix = config.get("REDIS_URL"), config["REDIS_KEY_PREFIX"]
    counters = CounterStore(connect(url, instance_path), KeySpace(prefix))
    spool_path = Path(config.get("INTERNAL_EVENTS_SPOOL_PATH") or Path(instance_path) / SPOOL_FILE)
    target = f"{describe(url, instance_path)} prefix={prefix}"
    spool = Spool(spool_path, config.get("INTERNAL_EVENTS_SPOOL_LIMIT", DEFAULT_SPOOL_LIMIT), target=target)
    return InternalEvents(
        definitions=definitions,
        counters=counters,
        delivery=CounterDelivery(counters, spool, definitions.current, Journal(spool_path.with_name(JOURNAL_FOLDER), target)),
        snowplow=SnowplowSender(collector, config["SNOWPLOW_APP_ID"], env) if collector else None,
        environment=env,
        raise_errors=raises_on_tracking_errors(env),
        write_behind=config["WRITE_BEHIND"],
    )
