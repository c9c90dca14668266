"""A per-user limit on events recorded through the API, counted in Redis so every worker shares it.

Fixed windows: each user has one counter per window of `window` seconds; a
request that takes the count over `limit` is refused until the window ends.
"""

import math
import time


def retry_after(redis, prefix, user_id, amount, limit, window, now=None):
    """Count `amount` events for `user_id`; seconds to wait when over the limit, else None.

    `limit` 0 turns the limit off. The key carries the user as a cluster hash tag,
    so users spread over the nodes of a Redis Cluster.
    """
    if limit <= 0:
        return None
    now = time.time() if now is None else now
    slot = int(now // window)
    key = f"{prefix}{{rate_limit:{user_id}}}:{slot}"
    used = redis.incrby(key, amount)
    if used == amount:  # this request opened the window's counter: one command a request otherwise
        redis.expire(key, window + 1)
    if used <= limit:
        return None
    return max(1, math.ceil((slot + 1) * window - now))
