"""Errors answered by content negotiation: JSON for the API and JSON clients, a page for a person.

The JSON body is the one API clients always had (`{"error": ..., "status": ...}`).
A browser, which asks for text/html, gets the same message as a page
(`internal_events/error.html`, in the extension's or the host's layout) with a way
on: the host's sign-in, or back home.
"""

from collections.abc import Iterable

from flask import Response, current_app, jsonify, make_response, render_template, request

from .internal_events.extension import extension

# Paths only programs call (the API, the Snowplow collector, pollers): JSON whatever the client accepts.
JSON_PATH_PREFIXES = ("/api/", "/micro/", "/com.snowplowanalytics.")
JSON_PATHS = ("/i",)
TITLES = {
    400: "Bad request",
    401: "Sign in to continue",
    403: "Access denied",
    404: "Page not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def wants_html():
    """A person's browser: a page path, and text/html preferred to JSON (no Accept header means JSON)."""
    path = request.path
    if path.startswith(JSON_PATH_PREFIXES) or path in JSON_PATHS or path.endswith(".json"):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def http_error(error):
    """Errors name the problem, never with a stack trace: JSON for programs, a page for people."""
    return error_response(error.code, error.description, error.get_headers())


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = (), **details: object) -> Response:
    """The answer to an error `status`, keeping the error's own headers (Retry-After, Allow...);
    `details` join the JSON answer."""
    response = _page(status, message) if wants_html() else None
    if response is None:
        response = jsonify(error=message, status=status, **details)
        response.status_code = status
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _page(status, message):
    """The error page, or None when even the layout cannot render (the JSON answer then still names the problem)."""
    try:
        host = extension()
        return make_response(
            render_template(
                "internal_events/error.html",
                status=status,
                title=TITLES.get(status, "Something went wrong"),
                message=message,
                signed_in=host.current_user() is not None,
                login_view=host.login_view,
                here=request.full_path.rstrip("?"),
            ),
            status,
        )
    except Exception:
        current_app.logger.exception("The error page for %s could not render", status)
        return None
