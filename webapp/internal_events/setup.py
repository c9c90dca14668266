"""Assembling InternalEvents from configuration: the only place that knows every part."""

from ..config import raises_on_tracking_errors
from ..redis_connection import connect
from .counters import CounterStore
from .keys import KeySpace
from .live_definitions import LiveDefinitions
from .snowplow import SnowplowSender
from .tracker import InternalEvents


# Outside development, edited definitions are picked up within this many seconds.
RELOAD_CHECK_SECONDS = 10.0


def build(config, instance_path):
    env = config["WEBAPP_ENV"]
    collector = config.get("SNOWPLOW_COLLECTOR_URL")
    return InternalEvents(
        definitions=LiveDefinitions(
            config["INTERNAL_EVENTS_DEFINITIONS"],
            check_interval=1.0 if env == "development" else RELOAD_CHECK_SECONDS,
        ),
        counters=CounterStore(connect(config.get("REDIS_URL"), instance_path), KeySpace(config["REDIS_KEY_PREFIX"])),
        snowplow=SnowplowSender(collector, config["SNOWPLOW_APP_ID"], env) if collector else None,
        environment=env,
        raise_errors=raises_on_tracking_errors(env),
        write_behind=config["WRITE_BEHIND"],
    )
