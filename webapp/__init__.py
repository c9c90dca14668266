"""Internal Events for Flask: the web app."""

import os

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .config import PROJECT_ROOT, from_environment
from .internal_events.delivery import REDIS_FAILURES
from .internal_events.setup import build

MAX_BODY_BYTES = 1024 * 1024  # forms and collector batches; the usage-data API has its own, smaller limit


def create_app(config=None):
    """Build the app: configuration from the environment, overridden by `config` (tests pass theirs)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("WEBAPP_INSTANCE_PATH", str(PROJECT_ROOT / "instance")),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(from_environment())
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.config.update(config or {})
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY must be set in production")
    app.extensions["internal_events"] = build(app.config, app.instance_path)

    from . import (admin, assets, auth, collector, csrf, dashboard, db, groups, pages, privacy, projects,
                   security_headers, session_cookie, tracking_context)
    from .api import usage_data
    from .cli import internal_events_cli
    from .seed import seed_demo_command

    db.init_app(app)
    session_cookie.init_app(app)
    csrf.init_app(app, exempt_blueprints={usage_data.bp.name, collector.bp.name})
    security_headers.init_app(app)
    tracking_context.init_app(app)
    for blueprint in (auth.bp, pages.bp, groups.bp, admin.bp, dashboard.bp, usage_data.bp, projects.bp, privacy.bp):
        app.register_blueprint(blueprint)
    if app.config.get("COLLECTOR_ENABLED", app.config["WEBAPP_ENV"] != "production"):
        app.register_blueprint(collector.bp)
    app.cli.add_command(internal_events_cli)
    app.cli.add_command(seed_demo_command)
    assets.init_app(app)
    app.register_error_handler(HTTPException, _http_error)
    for failure in REDIS_FAILURES:
        app.register_error_handler(failure, _redis_unavailable)
    return app


def _redis_unavailable(error):
    """Pages and listings that read counts cannot answer without Redis; tracking itself never gets here."""
    current_app.logger.warning("Redis unavailable while answering %s: %s", request.path, error)
    return jsonify(error="counts are unavailable right now (Redis cannot be reached): try again shortly",
                   status=503), 503, {"Retry-After": "5"}


def _http_error(error):
    """Errors answer in JSON with a message naming the problem, never a stack trace.

    The error's own headers (Retry-After, Allow, WWW-Authenticate) are kept.
    """
    response = jsonify(error=error.description, status=error.code)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, error.code
