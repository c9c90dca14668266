"""CSRF protection for forms: a per-session token every state-changing request must carry.

The usage-data API is exempt here because `navigator.sendBeacon` cannot send the
token in a header; it checks where the request comes from instead (see
`webapp.api.same_origin`) and also accepts this token as `X-CSRF-Token`.
"""

import hmac
import secrets

from flask import abort, request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def token():
    """The session's token, made on first use; templates put it in forms as `csrf_token()`."""
    if SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def is_valid(given):
    expected = session.get(SESSION_KEY)
    return isinstance(given, str) and isinstance(expected, str) and hmac.compare_digest(given, expected)


def init_app(app, exempt_blueprints):
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def require_token():
        if request.method in SAFE_METHODS or request.blueprint in exempt_blueprints:
            return
        if not is_valid(request.form.get(FORM_FIELD) or request.headers.get(HEADER)):
            abort(403, "CSRF token missing or invalid: reload the page and try again")
