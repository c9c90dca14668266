"""Flask's signed-cookie session, made cheap for the many small requests of the usage-data API.

Flask builds a new serializer for every request (which serializes an empty dict
to probe its type) and verifies the cookie's HMAC every time; together that was
about a tenth of an API request's CPU under gunicorn. Here the serializer is
built once per set of keys, and cookies that verified are remembered: a later
request with the same cookie only checks its age. The cache holds what the
signature vouched for, so a forged or altered cookie never gets in, and it
follows `SECRET_KEY` and `SECRET_KEY_FALLBACKS`, so rotating keys still works.
"""

import copy
import functools
import time

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

VERIFIED_COOKIES = 4096  # most recently used; each is a few hundred bytes


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
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        try:
            data, signed_at = _verified(serializer, cookie)
        except BadSignature:
            return self.session_class()
        age = int(time.time()) - signed_at  # as itsdangerous counts it: whole seconds, never negative
        if not 0 <= age <= app.permanent_session_lifetime.total_seconds():
            return self.session_class()
        return self.session_class(copy.deepcopy(data))  # a request may change what the cache keeps


@functools.lru_cache(maxsize=VERIFIED_COOKIES)
def _verified(serializer, cookie):
    """The data a valid cookie holds and when it was signed; raises BadSignature (never cached) otherwise."""
    data, signed_at = serializer.loads(cookie, return_timestamp=True)
    return data, int(signed_at.timestamp())


def init_app(app):
    app.session_interface = CachedSessionInterface()
