"""Internal Events for Flask: the web app."""

import os

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .config import PROJECT_ROOT, from_environment
from .internal_events.setup import build


def create_app(config=None):
    """Build the app: configuration from the environment, overridden by `config` (tests pass theirs)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("WEBAPP_INSTANCE_PATH", str(PROJECT_ROOT / "instance")),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_mapping(from_environment())
    app.config.update(config or {})
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY must be set in production")
    app.extensions["internal_events"] = build(app.config, app.instance_path)

    from . import assets, collector, pages
    from .cli import internal_events_cli

    app.register_blueprint(pages.bp)
    if app.config.get("COLLECTOR_ENABLED", app.config["WEBAPP_ENV"] != "production"):
        app.register_blueprint(collector.bp)
    app.cli.add_command(internal_events_cli)
    assets.init_app(app)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error):
    """Errors answer in JSON with a message naming the problem, never a stack trace."""
    return jsonify(error=error.description, status=error.code), error.code
