"""The Flask extension a host app adopts, in the style of Flask-Login and Flask-SQLAlchemy.

    internal_events = InternalEvents()

    @internal_events.user_loader
    def current_user():                       # the signed-in user (anything with `.id`), or None
        return g.user

    @internal_events.project_loader
    def visible_project(user, project_id):    # the project if `user` may see it, else None
        ...

    internal_events.init_app(app)             # or InternalEvents(app)

Only the host knows its users and what they may see: the callbacks tell the
usage-data API, the collector's listings and the dashboard. Everything else
(Redis, the spool, Snowplow, the definitions) comes from `INTERNAL_EVENTS_*` and
the other keys of settings.py, filled in where the host has not set them.
"""

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from . import settings
from .assembly import build
from .delivery import REDIS_FAILURES

TRACKER = "internal_events"  # app.extensions[TRACKER]: the app's tracker, which track_event uses
EXTENSION = "internal_events.extension"  # app.extensions[EXTENSION]: the InternalEvents that set the app up
DEFINITIONS_FOLDER = "definitions"  # beside the host's package, unless INTERNAL_EVENTS_DEFINITIONS says otherwise
LAYOUT = "internal_events/layout.html"  # the extension's own page layout: blocks title, head, content, scripts


Callback = TypeVar("Callback", bound=Callable[..., Any])
View = Callable[..., ResponseReturnValue]


class NotInitialized(RuntimeError):
    """The extension is used in an app it was not set up for."""


class InternalEvents:
    """Tracking for one or more Flask apps; the callbacks are the host's answers about its users."""

    def __init__(self, app: Flask | None = None) -> None:
        self._current_user: Callable[[], Any] | None = None
        self._visible_project: Callable[[Any, int], Any] | None = None
        self._visible_namespace: Callable[[Any, int], Any] | None = None
        self._project_namespace_id: Callable[[Any], int | None] = _namespace_id_attribute
        self._is_admin: Callable[[Any], object] = _is_admin_attribute
        self._user_names: Callable[[], Iterable[tuple[int, str]]] = _no_user_names
        self.login_view: str | None = None  # an endpoint: signed-out people opening the dashboard are sent there
        self.admin_view: str | None = None  # an endpoint: the host's admin area, first in the dashboard's breadcrumbs
        self.layout = LAYOUT  # the template the extension's pages extend; a host may name its own
        if app is not None:
            self.init_app(app)

    # -- the host's callbacks (decorators, like Flask-Login's user_loader) -------------------------

    def user_loader(self, callback: Callback) -> Callback:
        """`callback()` -> the signed-in user of the request (anything with an integer `.id`), or None."""
        self._current_user = callback
        return callback

    def project_loader(self, callback: Callback) -> Callback:
        """`callback(user, project_id)` -> the project if `user` may see it, else None."""
        self._visible_project = callback
        return callback

    def namespace_loader(self, callback: Callback) -> Callback:
        """`callback(user, namespace_id)` -> the namespace (group or personal) if `user` may see it, else None."""
        self._visible_namespace = callback
        return callback

    def project_namespace_loader(self, callback: Callback) -> Callback:
        """`callback(project)` -> the id of the project's namespace. Default: `project.namespace_id`."""
        self._project_namespace_id = callback
        return callback

    def admin_loader(self, callback: Callback) -> Callback:
        """`callback(user)` -> whether `user` administers the instance. Default: `user.is_admin`."""
        self._is_admin = callback
        return callback

    def user_names_loader(self, callback: Callback) -> Callback:
        """`callback()` -> (user id, display name) pairs: the dashboard names the users behind pseudonyms."""
        self._user_names = callback
        return callback

    # -- what the extension's views ask ---------------------------------------------------------

    def current_user(self) -> Any:
        return _required(self._current_user, "user_loader")()

    def visible_project(self, user: Any, project_id: int) -> Any:
        return _required(self._visible_project, "project_loader")(user, project_id)

    def visible_namespace(self, user: Any, namespace_id: int) -> Any:
        return _required(self._visible_namespace, "namespace_loader")(user, namespace_id)

    def namespace_id_of(self, project: Any) -> int | None:
        return self._project_namespace_id(project)

    def is_admin(self, user: Any) -> bool:
        return user is not None and bool(self._is_admin(user))

    def user_names(self) -> dict[int, str]:
        return dict(self._user_names())

    # -- setting an app up ------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Fill the settings' defaults, build the tracker and register the views, commands and handlers."""
        for key, value in settings.from_environment().items():
            app.config.setdefault(key, value)
        if not app.config.get("INTERNAL_EVENTS_DEFINITIONS"):
            app.config["INTERNAL_EVENTS_DEFINITIONS"] = str(Path(app.root_path).parent / DEFINITIONS_FOLDER)
        tracker = build(app.config, app.instance_path)
        app.extensions[TRACKER] = tracker
        app.extensions[EXTENSION] = self
        app.before_request(tracker.live_definitions.watch)  # served apps follow edits; `flask` commands need not
        # Teardown: at process exit the writer flushes and Snowplow sends what waits (their own atexit hooks);
        # `app.extensions["internal_events"].close()` does both, and ends the tracker's threads, sooner.

        from .. import collector, dashboard  # the web parts import this package: imported once it is loaded
        from ..api import usage_data
        from ..cli import internal_events_cli

        app.register_blueprint(usage_data.bp)
        app.register_blueprint(dashboard.bp)
        if settings.collector_enabled(app.config):
            app.register_blueprint(collector.bp)
        app.cli.add_command(internal_events_cli)
        for failure in REDIS_FAILURES:
            app.register_error_handler(failure, redis_unavailable)


def extension() -> InternalEvents:
    """The InternalEvents the current app was set up with; a clear error before `init_app`."""
    found: InternalEvents = set_up(EXTENSION)
    return found


def set_up(part: str) -> Any:
    """`app.extensions[part]` of the current app; NotInitialized naming the fix when init_app was never called."""
    found = current_app.extensions.get(part)
    if found is None:
        raise NotInitialized(
            f"Internal Events is not set up for the app {current_app.name!r}:"
            " call InternalEvents(app) or InternalEvents().init_app(app) first"
        )
    return found


def admin_required(view: View) -> View:
    """401 for signed-out callers, 403 for signed-in users who are not administrators."""

    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        host = extension()
        user = host.current_user()
        if user is None:
            abort(401, "sign in as an administrator")
        if not host.is_admin(user):
            abort(403, "administrators only")
        return view(**kwargs)

    return wrapped


def admin_page(view: View) -> View:
    """A page for administrators: signed-out people go to the host's `login_view` first, when it has one."""
    checked = admin_required(view)

    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        host = extension()
        if host.login_view and host.current_user() is None:
            return redirect(url_for(host.login_view, next=request.full_path.rstrip("?")))
        return checked(**kwargs)

    return wrapped


def _required(callback: Callback | None, name: str) -> Callback:
    if callback is None:
        raise NotInitialized(f"the host app has not registered its {name} callback with InternalEvents")
    return callback


def _namespace_id_attribute(project: Any) -> int | None:
    namespace_id: int | None = project.namespace_id
    return namespace_id


def _is_admin_attribute(user: Any) -> object:
    return getattr(user, "is_admin", False)


def _no_user_names() -> Iterable[tuple[int, str]]:
    return ()


def redis_unavailable(error: Exception, **details: object) -> ResponseReturnValue:
    """Pages and listings that read counts cannot answer without Redis; tracking itself never gets here.
    `details` join the JSON answer (the dashboard's live update sends what it can still show)."""
    from ..errors import error_response

    current_app.logger.warning("Redis unavailable while answering %s: %s", request.path, error)
    return error_response(
        503,
        "counts are unavailable right now (Redis cannot be reached): try again shortly",
        {"Retry-After": "5"}.items(),
        **details,
    )
