"""The tracking context every page carries for the JS client: who is signed in, and the page's namespace and project.

Views name their page's namespace and project with `set_tracking_context(...)`;
`base.html` renders the result as JSON in
`<script type="application/json" id="internal-events-context">`, which the client
reads without any inline script running (so the strict CSP holds):

    {"user_id": 3, "signed_in": true, "namespace_id": 5, "project_id": 8,
     "api_url": "/api/v4/usage_data/track_events", "environment": "development",
     "events": ["clone_button_clicked", ...]}

`events` leaves out the events recorded by the server only. Ids are null where the page has none. Signed-out visitors (`signed_in` false)
send nothing: the API would answer 401. For a visitor whose browser sends an
honoured privacy signal (GPC, DNT) the page carries no `user_id` at all: their
events are still counted, but nothing on the page identifies them.
"""

from flask import current_app, g, url_for

from .internal_events import current
from .internal_events.extension import extension


def set_tracking_context(namespace=None, project=None):
    """Events sent from this page belong to `project` (and its namespace) or to `namespace`."""
    g.tracking_project = project
    g.tracking_namespace = namespace if namespace is not None else getattr(project, "namespace", None)


def page_context():
    user = extension().current_user()
    namespace = g.get("tracking_namespace")
    project = g.get("tracking_project")
    identified = user is not None and not current().privacy.request_signals()
    return {
        "user_id": user.id if identified else None,
        "signed_in": user is not None,
        "namespace_id": namespace.id if namespace else None,
        "project_id": project.id if project else None,
        "api_url": url_for("usage_data.track_events"),
        "environment": current_app.config["WEBAPP_ENV"],
        "events": browser_events(current().definitions),
    }


def browser_events(definitions):
    """The events a page may send: those recorded by the server only are left out, as the API refuses them."""
    return sorted(name for name, event in definitions.events.items() if not event.server_side_only)


def init_app(app):
    @app.context_processor
    def inject_tracking_context():
        return {"internal_events_context": page_context()}
