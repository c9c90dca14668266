"""Stand-in signed-in pages and usage-data API for the browser tests (until the web app provides them)."""

import json

from flask import Blueprint, current_app, jsonify, make_response, render_template, request

from webapp.internal_events import TrackingError, current

bp = Blueprint("harness", __name__, template_folder="templates")
CSP = "default-src 'self'; img-src 'self' data:; script-src 'self'; object-src 'none'; base-uri 'none'"


@bp.get("/help")
def help_page():
    return page("other")


@bp.get("/harness/<name>")
def page(name):
    config = current_app.config
    context = {
        "user_id": config.get("HARNESS_USER_ID"),
        "namespace_id": config.get("HARNESS_NAMESPACE_ID"),
        "project_id": config.get("HARNESS_PROJECT_ID"),
        "api_url": "/api/v4/usage_data/track_events",
        "environment": config["WEBAPP_ENV"],
        "events": sorted(current().definitions.events),
    }
    response = make_response(render_template(f"harness_{name}.html", context=context))
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.post("/api/v4/usage_data/track_events")
def track_events():
    user_id = current_app.config.get("HARNESS_USER_ID")
    if user_id is None:
        return jsonify(error="sign in"), 401
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return jsonify(error="events must be a list"), 400
    events, prepared, results = current(), [], []
    for item in body["events"]:
        try:
            prepared.append(events.prepare(
                item.get("event"), user_id=user_id, namespace_id=item.get("namespace_id"),
                project_id=item.get("project_id"), additional_properties=item.get("additional_properties"),
                source="browser", strict=True,
            ))
            results.append({"event": item.get("event"), "accepted": True})
        except TrackingError as error:
            results.append({"event": item.get("event"), "accepted": False, "error": str(error)})
    events.record(prepared)
    return jsonify(results=results)
