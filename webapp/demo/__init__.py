"""The demo product: users, groups and projects, instrumented with Internal Events exactly as any host app is."""

import os

import click
from flask import Flask
from flask_compress import Compress
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ..errors import http_error
from .config import PROJECT_ROOT, from_environment
from .secret_key import secret_key

MAX_BODY_BYTES = 1024 * 1024  # forms and collector batches; the usage-data API has its own, smaller limit


SYNCED_FUNCTIONS = 512  # more than the app registers; `after_this_request` brings a new function a request


class _App(Flask):
    """Flask asks of every hook and view, on every request, whether it is a coroutine function (eight
    questions for an API call): the answer never changes, so it is given once per function. Bounded, as
    functions made during a request (`after_this_request`) pass through it too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synced = {}

    def ensure_sync(self, func):
        synced = self._synced.get(func)
        if synced is None:
            if len(self._synced) >= SYNCED_FUNCTIONS:
                self._synced.clear()
            synced = self._synced[func] = super().ensure_sync(func)
        return synced


def create_app(config=None):
    """Build the app: configuration from the environment, overridden by `config` (tests pass theirs)."""
    app = _App(
        "webapp",  # `flask --app webapp`; its root, the project's folder, holds templates/, static/ and definitions/
        instance_path=os.environ.get("WEBAPP_INSTANCE_PATH", str(PROJECT_ROOT / "instance")),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(from_environment())
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.config["INTERNAL_EVENTS_SKIP_INVALID"] = _loaded_to_find_a_cli_command()
    app.config.update(config or {})
    app.config["SECRET_KEY"] = secret_key(app.config["SECRET_KEY"], app.config["WEBAPP_ENV"], app.instance_path)

    from .. import assets, collector, csrf, tracking_context
    from ..api import usage_data
    from . import admin, auth, db, groups, pages, privacy, projects, security_headers, session_cookie
    from .seed import seed_demo_command
    from .tracking_host import internal_events

    internal_events().init_app(app)

    db.init_app(app)
    session_cookie.init_app(app)
    csrf.init_app(app, exempt_blueprints={usage_data.bp.name, collector.bp.name})
    security_headers.init_app(app)
    tracking_context.init_app(app)
    for blueprint in (auth.bp, pages.bp, groups.bp, admin.bp, projects.bp, privacy.bp):
        app.register_blueprint(blueprint)
    groups.init_app(app)
    app.cli.add_command(seed_demo_command)
    assets.init_app(app)
    _compress(app)
    app.register_error_handler(HTTPException, http_error)
    # Behind reverse proxies: the client's address, scheme and host as the proxies saw them (the sign-in throttle's client).
    if proxies := app.config.get("WEBAPP_PROXIES", 0):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    return app


def _compress(app):
    """Brotli or gzip (zstd too) for text responses of 500 bytes and more, when the client accepts it.

    Smaller answers (most API calls) are never compressed: they skip the hook, and its `Vary: Accept-Encoding`.
    """
    app.config.setdefault("COMPRESS_REGISTER", False)
    compress = Compress(app)
    smallest = app.config["COMPRESS_MIN_SIZE"]

    @app.after_request
    def compressed(response):
        length = response.content_length
        return response if length is not None and length < smallest else compress.after_request(response)


def _loaded_to_find_a_cli_command():
    """`flask internal-events lint|status` must run on broken definitions to list them, even in development.

    The flask command builds the app to look a command up; `flask run` and gunicorn
    build it to serve, and then invalid definitions stop development and test.
    """
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.command, click.Group)
