"""Flask's signed-cookie session, made cheap for the many small requests of the usage-data API.

Flask builds a new serializer for every request (which serializes an empty dict
to probe its type) and verifies the cookie's HMAC every time; together that was
about a tenth of an API request's CPU under gunicorn. Here the serializer is
built once per set of keys, and `Cookie` headers whose session cookie verified
are remembered: a later request with the same header neither parses nor verifies
it again, it only checks the cookie's age, and answering sends no cookie
unless the request changed the session. The cache holds what the
signature vouched for, so a forged or altered cookie never gets in, and it
follows `SECRET_KEY` and `SECRET_KEY_FALLBACKS`, so rotating keys still works.
"""

import copy
import functools
import time

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

VERIFIED_COOKIES = 4096  # most recently used `Cookie` headers; each is a few hundred bytes
MAX_REMEMBERED_HEADER = 1024  # longer headers are verified every time: at most 4 MB remembered


class CachedSessionInterface(SecureCookieSessionInterface):
    def __init__(self):
        self._cached = (None, None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._cached
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookies = request.headers.get("Cookie")
        try:
            verified = _verified(serializer, self.get_cookie_name(app), cookies) if cookies else None
        except BadSignature:
            return self.session_class()
        if verified is None:
            return self.session_class()
        data, signed_at = verified
        age = int(time.time()) - signed_at  # as itsdangerous counts it: whole seconds, never negative
        if not 0 <= age <= app.permanent_session_lifetime.total_seconds():
            return self.session_class()
        return self.session_class(copy.deepcopy(data))  # a request may change what the cache keeps

    def save_session(self, app, session, response):
        """A session the request left unchanged sends no cookie; only `Vary: Cookie`, without Flask's cookie settings."""
        if session.modified or (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            super().save_session(app, session, response)
        elif session.accessed:
            if "Vary" in response.headers:
                response.vary.add("Cookie")
            else:  # the usual API answer: no header to parse and write back
                response.headers["Vary"] = "Cookie"


def _verified(serializer, name, cookies):
    """The data the session cookie of a `Cookie` header holds and when it was signed, or None without one;
    raises BadSignature (never remembered) for a cookie that is not valid."""
    if len(cookies) > MAX_REMEMBERED_HEADER:
        return _verified_now(serializer, name, cookies)
    return _remembered(serializer, name, cookies)


def _verified_now(serializer, name, cookies):
    cookie = parse_cookie(cookies).get(name)
    if not cookie:
        return None
    data, signed_at = serializer.loads(cookie, return_timestamp=True)
    return data, int(signed_at.timestamp())


_remembered = functools.lru_cache(maxsize=VERIFIED_COOKIES)(_verified_now)


def init_app(app):
    app.session_interface = CachedSessionInterface()
