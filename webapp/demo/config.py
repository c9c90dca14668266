"""Settings read from the environment, so one code path serves `make run`, tests, scripts and gunicorn."""

import os
from pathlib import Path

from ..internal_events import settings
from ..internal_events.settings import ConfigError, collector_enabled, collector_token  # noqa: F401 (the demo's names)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def from_environment(environ=None):
    """Flask config keys for the current environment variables.

    Unset variables fall back to what a developer on a laptop wants; production
    must opt in to anything that sends data anywhere.
    """
    env = os.environ if environ is None else environ
    tracking = settings.from_environment(env)
    return {
        **tracking,
        "SECRET_KEY": env.get("SECRET_KEY") or None,  # None: see webapp/secret_key.py
        "DATABASE": env.get("DATABASE_PATH") or None,  # None: webapp.sqlite in the instance folder (see db.py)
        "INTERNAL_EVENTS_DEFINITIONS": tracking["INTERNAL_EVENTS_DEFINITIONS"] or str(PROJECT_ROOT / "definitions"),
        # Edited templates show on the next request in development, like edited definitions.
        "TEMPLATES_AUTO_RELOAD": tracking["WEBAPP_ENV"] == "development",
        "SESSION_COOKIE_SECURE": settings.flag(env.get("SESSION_COOKIE_SECURE"), default=False),
        "WEBAPP_PROXIES": settings.count(env, "WEBAPP_PROXIES", 0),
    }
