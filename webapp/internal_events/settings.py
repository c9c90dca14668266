"""The tracking settings: their defaults from the environment (variable name = key name) and their checks.

The extension fills these into a host app's configuration where the host has not
set them; scripts and workers without an app read the same names from the environment.
"""

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

ENVIRONMENTS = ("development", "test", "production")
# Events kept on disk while Redis is unreachable (see spool.py), and Snowplow events waiting for the collector.
DEFAULT_SPOOL_LIMIT = 100_000
DEFAULT_SNOWPLOW_OUTBOX_LIMIT = 100_000


class ConfigError(ValueError):
    """A setting has a value the app cannot run with."""


def environment_name(env: Mapping[str, str]) -> str:
    """WEBAPP_ENV, checked: it decides how loudly tracking mistakes fail and what is on by default."""
    name = env.get("WEBAPP_ENV", "production")
    if name not in ENVIRONMENTS:
        raise ConfigError(f"WEBAPP_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}")
    return name


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The tracking keys for the current environment variables.

    Unset variables fall back to what a developer on a laptop wants; production
    must opt in to anything that sends data anywhere.
    """
    env = os.environ if environ is None else environ
    webapp_env = environment_name(env)
    return {
        "WEBAPP_ENV": webapp_env,
        # The machine's contract (CI, containers): REDIS_URL. Unset: an embedded Redis in the instance folder.
        "REDIS_URL": env.get("REDIS_URL") or None,
        "INTERNAL_EVENTS_KEY_PREFIX": env.get("INTERNAL_EVENTS_KEY_PREFIX", "ie:"),
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL": env.get("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL")
        or (default_collector_url(env) if webapp_env == "development" else None),
        "INTERNAL_EVENTS_SNOWPLOW_APP_ID": env.get("INTERNAL_EVENTS_SNOWPLOW_APP_ID", "internal-events-flask"),
        # The vendor of the context schemas events refer to, and that `internal-events iglu-export` writes.
        "INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR": env.get("INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR") or None,
        # Unset: derived from SECRET_KEY, so an app that is its own collector needs nothing (see collector_token).
        "INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN": env.get("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN") or None,
        # Events waiting for the collector (see snowplow_outbox.py); unset: the instance folder.
        "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR": env.get("INTERNAL_EVENTS_SNOWPLOW_OUTBOX_DIR") or None,
        "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_LIMIT": count(
            env, "INTERNAL_EVENTS_SNOWPLOW_OUTBOX_LIMIT", DEFAULT_SNOWPLOW_OUTBOX_LIMIT, minimum=1
        ),
        "INTERNAL_EVENTS_COLLECTOR_ENABLED": env.get("INTERNAL_EVENTS_COLLECTOR_ENABLED")
        or None,  # see collector_enabled
        "INTERNAL_EVENTS_WRITE_BEHIND": flag(
            env.get("INTERNAL_EVENTS_WRITE_BEHIND"), default=webapp_env == "production"
        ),
        # Unset: the `definitions` folder beside the host app's package (see extension.py).
        "INTERNAL_EVENTS_DEFINITIONS": env.get("INTERNAL_EVENTS_DEFINITIONS") or None,
        "INTERNAL_EVENTS_SPOOL_LIMIT": count(env, "INTERNAL_EVENTS_SPOOL_LIMIT", DEFAULT_SPOOL_LIMIT, minimum=1),
        # Unset: internal-events-spool.sqlite3 in the app's instance folder.
        "INTERNAL_EVENTS_SPOOL_PATH": env.get("INTERNAL_EVENTS_SPOOL_PATH") or None,
        # Unset: internal-events-opt-outs.sqlite3 in the app's instance folder (see opt_outs.py).
        "INTERNAL_EVENTS_OPT_OUTS_PATH": env.get("INTERNAL_EVENTS_OPT_OUTS_PATH") or None,
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT": count(env, "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT", 600),
        "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW": count(
            env, "INTERNAL_EVENTS_USAGE_DATA_RATE_LIMIT_WINDOW", 60, minimum=1
        ),
        "INTERNAL_EVENTS_USAGE_DATA_MAX_BODY_BYTES": count(env, "INTERNAL_EVENTS_USAGE_DATA_MAX_BODY_BYTES", 64 * 1024),
        # Privacy (docs: privacy): unset key: generated into the instance folder.
        "INTERNAL_EVENTS_PSEUDONYM_KEY": env.get("INTERNAL_EVENTS_PSEUDONYM_KEY") or None,
        "INTERNAL_EVENTS_PRIVACY_SIGNALS": env.get("INTERNAL_EVENTS_PRIVACY_SIGNALS") or "gpc_and_dnt",
        "INTERNAL_EVENTS_SNOWPLOW": flag(env.get("INTERNAL_EVENTS_SNOWPLOW"), default=True),
        "INTERNAL_EVENTS_SERVICE_PING": flag(env.get("INTERNAL_EVENTS_SERVICE_PING"), default=True),
    }


def count(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ConfigError(f"{name}={text!r} must be a whole number ({minimum} or more)")
    return int(text)


def flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{value!r} is not a yes/no value (use 1 or 0)")


def default_collector_url(env: Mapping[str, str]) -> str:
    """In development the app is its own Snowplow collector (see the collector blueprint)."""
    port = env.get("PORT") or env.get("FLASK_RUN_PORT") or "5000"
    return f"http://127.0.0.1:{port}"


def collector_token(config: Mapping[str, Any]) -> str:
    """What the app's tracker shows the collector, and what the collector asks of senders.

    INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN when set (a collector other apps send to); else derived
    from SECRET_KEY, which every process of one app instance shares.
    """
    if config.get("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN"):
        return str(config["INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_TOKEN"])
    secret = str(config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"snowplow-collector", hashlib.sha256).hexdigest()


def collector_enabled(config: Mapping[str, Any]) -> bool:
    """INTERNAL_EVENTS_COLLECTOR_ENABLED as a bool or as text ("0" and "false" are off); unset: on outside production."""
    value = config.get("INTERNAL_EVENTS_COLLECTOR_ENABLED")
    default = config["WEBAPP_ENV"] != "production"
    return value if isinstance(value, bool) else flag(None if value is None else str(value), default)


def raises_on_tracking_errors(webapp_env: str) -> bool:
    """Developers want a tracking mistake to fail loudly; users want their request to succeed."""
    return webapp_env in ("development", "test")
