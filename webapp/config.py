"""Settings read from the environment, so one code path serves `make run`, tests, scripts and gunicorn."""

import hashlib
import hmac
import os
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
# Events kept on disk while Redis is unreachable (see internal_events/spool.py).
DEFAULT_SPOOL_LIMIT = 100_000
DEFAULT_SNOWPLOW_OUTBOX_LIMIT = 100_000
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value the app cannot run with."""


def from_environment(environ=None):
    """Flask config keys for the current environment variables.

    Unset variables fall back to what a developer on a laptop wants; production
    must opt in to anything that sends data anywhere.
    """
    env = os.environ if environ is None else environ
    webapp_env = env.get("WEBAPP_ENV", "production")
    if webapp_env not in ENVIRONMENTS:
        raise ConfigError(f"WEBAPP_ENV={webapp_env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return {
        "WEBAPP_ENV": webapp_env,
        "SECRET_KEY": env.get("SECRET_KEY") or None,  # None: see webapp/secret_key.py
        "REDIS_URL": env.get("REDIS_URL") or None,
        "REDIS_KEY_PREFIX": env.get("INTERNAL_EVENTS_KEY_PREFIX", "ie:"),
        "SNOWPLOW_COLLECTOR_URL": env.get("SNOWPLOW_COLLECTOR_URL")
        or (default_collector_url(env) if webapp_env == "development" else None),
        "SNOWPLOW_APP_ID": env.get("SNOWPLOW_APP_ID", "internal-events-flask"),
        # The vendor of the context schemas events refer to, and that `internal-events iglu-export` writes.
        "SNOWPLOW_IGLU_VENDOR": env.get("SNOWPLOW_IGLU_VENDOR") or None,
        # Unset: derived from SECRET_KEY, so an app that is its own collector needs nothing (see collector_token).
        "SNOWPLOW_COLLECTOR_TOKEN": env.get("SNOWPLOW_COLLECTOR_TOKEN") or None,
        # Events waiting for the collector (see internal_events/snowplow_outbox.py); unset: the instance folder.
        "SNOWPLOW_OUTBOX_DIR": env.get("SNOWPLOW_OUTBOX_DIR") or None,
        "SNOWPLOW_OUTBOX_LIMIT": _count(env, "SNOWPLOW_OUTBOX_LIMIT", DEFAULT_SNOWPLOW_OUTBOX_LIMIT, minimum=1),
        "COLLECTOR_ENABLED": env.get("COLLECTOR_ENABLED") or None,  # see collector_enabled
        "WRITE_BEHIND": _flag(env.get("INTERNAL_EVENTS_WRITE_BEHIND"), default=webapp_env == "production"),
        "INTERNAL_EVENTS_DEFINITIONS": env.get(
            "INTERNAL_EVENTS_DEFINITIONS", str(PROJECT_ROOT / "definitions")
        ),
        "INTERNAL_EVENTS_SPOOL_LIMIT": _count(env, "INTERNAL_EVENTS_SPOOL_LIMIT", DEFAULT_SPOOL_LIMIT, minimum=1),
        # Unset: internal-events-spool.sqlite3 in the app's instance folder.
        "INTERNAL_EVENTS_SPOOL_PATH": env.get("INTERNAL_EVENTS_SPOOL_PATH") or None,
        "DATABASE": env.get("DATABASE_PATH") or None,  # None: webapp.sqlite in the instance folder
        # Edited templates show on the next request in development, like edited definitions.
        "TEMPLATES_AUTO_RELOAD": webapp_env == "development",
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), default=False),
        "USAGE_DATA_RATE_LIMIT": _count(env, "USAGE_DATA_RATE_LIMIT", 600),
        "USAGE_DATA_RATE_LIMIT_WINDOW": _count(env, "USAGE_DATA_RATE_LIMIT_WINDOW", 60, minimum=1),
        "USAGE_DATA_MAX_BODY_BYTES": _count(env, "USAGE_DATA_MAX_BODY_BYTES", 64 * 1024),
        # Privacy (README "Privacy"): unset key: generated into the instance folder.
        "INTERNAL_EVENTS_PSEUDONYM_KEY": env.get("INTERNAL_EVENTS_PSEUDONYM_KEY") or None,
        "INTERNAL_EVENTS_PRIVACY_SIGNALS": env.get("INTERNAL_EVENTS_PRIVACY_SIGNALS") or "gpc_and_dnt",
        "INTERNAL_EVENTS_SNOWPLOW": _flag(env.get("INTERNAL_EVENTS_SNOWPLOW"), default=True),
        "INTERNAL_EVENTS_SERVICE_PING": _flag(env.get("INTERNAL_EVENTS_SERVICE_PING"), default=True),
    }


def _count(env, name, default, minimum=0):
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ConfigError(f"{name}={text!r} must be a whole number ({minimum} or more)")
    return int(text)


def _flag(value, default):
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{value!r} is not a yes/no value (use 1 or 0)")


def default_collector_url(env):
    """In development the app is its own Snowplow collector (see `webapp.collector`)."""
    port = env.get("PORT") or env.get("FLASK_RUN_PORT") or "5000"
    return f"http://127.0.0.1:{port}"


def collector_token(config):
    """What the app's tracker shows the collector, and what the collector asks of senders.

    SNOWPLOW_COLLECTOR_TOKEN when set (a collector other apps send to); else derived
    from SECRET_KEY, which every process of one app instance shares.
    """
    if config.get("SNOWPLOW_COLLECTOR_TOKEN"):
        return config["SNOWPLOW_COLLECTOR_TOKEN"]
    secret = str(config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"snowplow-collector", hashlib.sha256).hexdigest()


def collector_enabled(config):
    """COLLECTOR_ENABLED as a bool or as text ("0" and "false" are off); unset: on outside production."""
    value = config.get("COLLECTOR_ENABLED")
    default = config["WEBAPP_ENV"] != "production"
    return value if isinstance(value, bool) else _flag(None if value is None else str(value), default)


def raises_on_tracking_errors(webapp_env):
    """Developers want a tracking mistake to fail loudly; users want their request to succeed."""
    return webapp_env in ("development", "test")
