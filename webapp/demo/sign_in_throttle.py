"""Brute-force protection for signing in: failed attempts are counted in Redis per account, per client, and per pair.

Locking a whole account after a few failures would let anyone lock anyone out
(ten wrong guesses, and the owner waits a quarter of an hour). So, as careful
sites do, the lock is per account *and* client: a client that failed 10 times
on an account waits, everyone else, the owner included, signs in as usual. A
client that fails 30 times over any accounts waits too (one client spraying).
Guesses spread over many clients are met by a higher per-account ceiling (100
failures) which slows instead of locking: past it, each client gets one failed
guess on that account per window, while a client that has not failed on it (the
owner, usually) still signs in.

A small counter rather than Flask-Limiter: only *failed* attempts count, the
check runs before the password hash (so throttled guesses cost no hashing),
and the keys live in the app's own Redis under its prefix, shared by every
worker and spread over a Redis Cluster's nodes by hash tag.

The account is the submitted username, hashed, whether or not such a user
exists: the answer past a limit is the same 429 for both, so it reveals nothing.
Fixed windows start at the first failure a key counts. The client is
`request.remote_addr`: behind a reverse proxy, set WEBAPP_PROXIES (werkzeug's
ProxyFix), or every visitor is the proxy and shares its limits.
"""

import hashlib

PAIR_FAILURES = 10  # per account and client: a person mistyping never gets there
CLIENT_FAILURES = 30  # per client over any accounts: one client trying many accounts
ACCOUNT_CEILING = 100  # per account over every client: past it, one failure per client and window
WINDOW_SECONDS = 15 * 60


class SignInThrottle:
    def __init__(
        self,
        redis,
        prefix,
        pair_failures=PAIR_FAILURES,
        client_failures=CLIENT_FAILURES,
        account_ceiling=ACCOUNT_CEILING,
        window=WINDOW_SECONDS,
    ):
        self.redis, self.prefix, self.window = redis, prefix, window
        self.limits = {"pair": pair_failures, "client": client_failures, "account": account_ceiling}

    def retry_after(self, username, client):
        """Seconds until this client may try this username again, or None while it may now."""
        keys = self._keys(username, client)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys.values():
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        failures = {kind: int(count or 0) for kind, count in zip(keys, replies[::2])}
        ttls = dict(zip(keys, replies[1::2]))
        waits = [ttls[kind] for kind in ("pair", "client") if failures[kind] >= self.limits[kind]]
        if failures["account"] >= self.limits["account"] and failures["pair"]:
            waits.append(ttls["pair"])  # under attack from many clients: this one has had its guess
        return max(1, max(waits)) if waits else None

    def failed(self, username, client):
        """Count a failed attempt against the pair, the client and the account."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self._keys(username, client).values():
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first failure
            pipe.incr(key)
        pipe.execute()

    def succeeded(self, username, client):
        """The owner got in from this client: its earlier typos there no longer count (the account's and the
        client's totals still do: they measure guessing, not this person)."""
        self.redis.delete(self._keys(username, client)["pair"])

    def _keys(self, username, client):
        account = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
        return {
            "pair": f"{self.prefix}{{sign_in_failures:pair:{account}:{client}}}",
            "client": f"{self.prefix}{{sign_in_failures:client:{client}}}",
            "account": f"{self.prefix}{{sign_in_failures:account:{account}}}",
        }
