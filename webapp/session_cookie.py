"""Flask's signed-cookie session, with its serializer built once instead of on every request.

Flask builds a new `URLSafeTimedSerializer` for each request that has a
session, and building one serializes an empty dict to probe its type. That was
about a tenth of the CPU of a usage-data API request under gunicorn. The cache
follows `SECRET_KEY` and `SECRET_KEY_FALLBACKS`, so rotating keys still works.
"""

from flask.sessions import SecureCookieSessionInterface


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self):
        self._cached = (None, None)

    def get_signing_serializer(self, app):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._cached
        if cached_keys != keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer


def init_app(app):
    app.session_interface = CachedSerializerSessionInterface()
