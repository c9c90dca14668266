"""Response headers that keep pages safe: a strict Content-Security-Policy and friends.

With Secure session cookies the site is served over HTTPS, so browsers are told
to use nothing else (HSTS). What a signed-in user sees is never stored by a
browser or proxy cache (`no-store`), unless the view chose its own caching.

No inline script runs: the page context is a JSON `<script type="application/json">`
block, which browsers never execute. A page that truly needs one inline script
(an import map) marks it with `nonce="{{ csp_nonce() }}"`, and only that page's
policy then allows exactly that script.
"""

import secrets

from flask import g

POLICY = (
    ("default-src", "'self'"),
    ("script-src", "'self'"),
    ("style-src", "'self'"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)
OTHER_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")  # a year, the usual minimum for preload lists


def content_security_policy(nonce=None):
    parts = []
    for directive, sources in POLICY:
        if directive == "script-src" and nonce:
            sources += f" 'nonce-{nonce}'"
        parts.append(f"{directive} {sources}")
    return "; ".join(parts)


DEFAULT_POLICY = content_security_policy()  # most responses have no nonce: built once


def csp_nonce():
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def init_app(app):
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    headers = dict(OTHER_HEADERS)
    if app.config.get("SESSION_COOKIE_SECURE"):
        headers.update([HSTS])
    defaults = [(name.lower(), name, value) for name, value in headers.items()]

    @app.after_request
    def add_headers(response):
        """Each header unless the view set its own; one pass over the headers (this runs on every API call)."""
        present = {name.lower() for name in response.headers.keys()}
        state = g._get_current_object()  # one lookup of the request's `g` for both questions
        if "content-security-policy" not in present:
            nonce = getattr(state, "csp_nonce", None)
            response.headers.add("Content-Security-Policy", content_security_policy(nonce) if nonce else DEFAULT_POLICY)
        for lowered, name, value in defaults:
            if lowered not in present:
                response.headers.add(name, value)
        if getattr(state, "user", None) is not None and "cache-control" not in present:
            response.headers.add("Cache-Control", "no-store")
        return response
