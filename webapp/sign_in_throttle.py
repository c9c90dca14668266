"""Brute-force protection for signing in: failed attempts are counted per account and per client in Redis.

A small counter rather than Flask-Limiter: only *failed* attempts count, the
check runs before the password hash (so throttled guesses cost no hashing),
and the keys live in the app's own Redis under its prefix, shared by every
worker and spread over a Redis Cluster's nodes by hash tag.

The account is the submitted username, hashed, whether or not such a user
exists: the answer past the limit is the same 429 for both, so it reveals nothing.
Fixed windows start at an account's or a client's first failure.
"""

import hashlib

ACCOUNT_FAILURES = 10  # per username and window: a person mistyping never gets there
CLIENT_FAILURES = 30  # per client address and window: one client trying many accounts
WINDOW_SECONDS = 15 * 60


class SignInThrottle:
    def __init__(self, redis, prefix, account_failures=ACCOUNT_FAILURES, client_failures=CLIENT_FAILURES,
                 window=WINDOW_SECONDS):
        self.redis, self.prefix, self.window = redis, prefix, window
        self.limits = {"account": account_failures, "client": client_failures}

    def retry_after(self, username, client):
        """Seconds until this username or client may try again, or None while under both limits."""
        keys = self._keys(username, client)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys.values():
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        waits = [ttl for (kind, _), failures, ttl in zip(keys.items(), replies[::2], replies[1::2])
                 if failures is not None and int(failures) >= self.limits[kind]]
        return max(1, max(waits)) if waits else None

    def failed(self, username, client):
        """Count a failed attempt against both the username and the client."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self._keys(username, client).values():
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first failure
            pipe.incr(key)
        pipe.execute()

    def succeeded(self, username):
        """The account's owner got in: their earlier typos no longer count (the client's failures still do)."""
        self.redis.delete(self._keys(username, None)["account"])

    def _keys(self, username, client):
        account = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
        return {"account": f"{self.prefix}{{sign_in_failures:account:{account}}}",
                "client": f"{self.prefix}{{sign_in_failures:client:{client}}}"}
