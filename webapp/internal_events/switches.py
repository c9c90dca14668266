"""The operator's switches: Snowplow and the service ping, on or off while the app runs.

Configuration gives each switch its value at start (INTERNAL_EVENTS_SNOWPLOW,
INTERNAL_EVENTS_SERVICE_PING); `internal-events switch NAME on|off` overrides it
for every process of the instance through Redis, and `switch NAME default` goes
back to the configuration. Each process reads the overrides at most once every
CHECK_SECONDS; while Redis cannot be read it keeps the values it last read.
"""

import threading
import time
from collections.abc import Mapping
from typing import Any

from .delivery import REDIS_FAILURES

NAMES = ("snowplow", "service_ping")
CHECK_SECONDS = 1.0
STATES = {"on": True, "off": False}


class Switches:
    def __init__(
        self, redis: Any, key: str, configured: Mapping[str, bool], check_seconds: float = CHECK_SECONDS
    ) -> None:
        """`configured`: {name: bool} from configuration; `key`: the Redis hash of overrides."""
        self.redis, self.key = redis, key
        self.configured = dict(configured)
        self.check_seconds = check_seconds
        self._overrides: dict[str, bool] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def is_on(self, name: str) -> bool:
        return bool(self.states()[name]["on"])

    def states(self) -> dict[str, dict[str, bool | str]]:
        """{name: {"on": bool, "set_by": "configuration" or "runtime switch"}} as this process sees them now."""
        overrides = self._current_overrides()
        return {
            name: {
                "on": overrides.get(name, self.configured[name]),
                "set_by": "runtime switch" if name in overrides else "configuration",
            }
            for name in NAMES
        }

    def set(self, name: str, state: str) -> None:
        """Turn `name` "on" or "off" for every process, or back to its configured value ("default")."""
        if name not in NAMES:
            raise ValueError(f"unknown switch {name!r}: one of {', '.join(NAMES)}")
        if state == "default":
            self.redis.hdel(self.key, name)
        elif state in STATES:
            self.redis.hset(self.key, name, state)
        else:
            raise ValueError(f"a switch is turned on, off or back to default, not {state!r}")
        with self._lock:
            self._read_at = None

    def _current_overrides(self) -> dict[str, bool]:
        with self._lock:
            if self._read_at is not None and time.monotonic() - self._read_at < self.check_seconds:
                return self._overrides
            try:
                stored = self.redis.hgetall(self.key)
            except REDIS_FAILURES:
                self._read_at = time.monotonic()  # keep what was read last; try again after check_seconds
                return self._overrides
            self._overrides = {
                name.decode(): STATES[value.decode()]
                for name, value in stored.items()
                if name.decode() in NAMES and value.decode() in STATES
            }
            self._read_at = time.monotonic()
            return self._overrides
