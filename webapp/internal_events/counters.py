"""Counters in Redis: writing an event's rules in one round trip, reading metric values back.

Unique counts are HyperLogLogs (about 0.81% standard error, at most 12 KB a key);
totals and sums are plain counters. Both are kept per UTC day so any rolling
window is a union (PFCOUNT of several keys) or a sum of days.
"""

import hashlib
import json
import uuid

from redis.cluster import RedisCluster

from .keys import KeySpace
from .model import IDENTIFIERS
from .windows import RETENTION_SECONDS, chart_weeks, days_back, days_of


def unique_element(rule, event):
    """What a unique rule adds to its HyperLogLog for this event, or None when the event lacks it.

    Ids are added as they are; property values are hashed to a fixed size with a
    stable hash, so the same value counts once whichever process saw it.
    """
    if rule.unique in IDENTIFIERS:
        value = event.identifier(rule.unique)
        return None if value is None else str(value)
    if rule.unique not in event.properties:
        return None
    canonical = json.dumps(_canonical_number(event.properties[rule.unique]))
    return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()


def _canonical_number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _number(raw):
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return int(text) if text.lstrip("-").isdigit() else float(text)


class CounterStore:
    def __init__(self, redis, keyspace: KeySpace):
        self.redis = redis
        self.keys = keyspace
        self.is_cluster = isinstance(redis, RedisCluster)

    # -- writing ---------------------------------------------------------------------------------

    def add_writes(self, pipe, rules, event, day):
        """Queue on `pipe` every write this event makes; return the rules it skipped for lack of data."""
        skipped = []
        for rule in rules:
            if not rule.matches(event.properties):
                continue
            if rule.kind == "unique":
                element = unique_element(rule, event)
                if element is None:
                    skipped.append(rule)
                    continue
                key = self.keys.daily(rule, day)
                pipe.pfadd(key, element)
                pipe.expire(key, RETENTION_SECONDS)
            elif rule.kind == "total":
                self._add_count(pipe, rule, day, 1)
            else:
                amount = event.properties.get("value")
                if amount is None:
                    skipped.append(rule)
                    continue
                self._add_count(pipe, rule, day, amount)
        return skipped

    def _add_count(self, pipe, rule, day, amount):
        # Sums add floats and integers to the same key: INCRBY refuses a key holding "2.5",
        # INCRBYFLOAT takes both (exact for integers below 2**64, Redis adds long doubles).
        add = pipe.incrby if rule.kind == "total" else pipe.incrbyfloat
        daily = self.keys.daily(rule, day)
        add(daily, amount)
        add(self.keys.all_time(rule), amount)
        pipe.expire(daily, RETENTION_SECONDS)

    def pipeline(self):
        return self.redis.pipeline(transaction=False)

    # -- reading ---------------------------------------------------------------------------------

    def value(self, metric, until):
        if metric.time_frame == "all":
            return self._sum([self.keys.all_time(rule) for rule in metric.rules])
        return self._over_days(metric, days_of(metric.time_frame, until))

    def weekly_values(self, metric, until):
        """[(last day of week, value)] for the chart's rolling weeks; `all` metrics chart their weekly totals."""
        return [
            (last, self._over_days(metric, days_back(last, 7))) for first, last in chart_weeks(until)
        ]

    def _over_days(self, metric, days):
        keys = [self.keys.daily(rule, day) for rule in metric.rules for day in days]
        if metric.kind == "unique":
            return self._pfcount(keys, several_events=len(metric.events) > 1)
        return self._sum(keys)

    def _sum(self, keys):
        if self.is_cluster:
            pipe = self.pipeline()
            for key in keys:
                pipe.get(key)
            values = pipe.execute()
        else:
            values = self.redis.mget(keys)
        return sum(_number(v) for v in values if v is not None)

    def _pfcount(self, keys, several_events):
        if not (self.is_cluster and several_events):
            return self.redis.pfcount(*keys)
        # A cluster cannot union HLLs across slots: copy them into one scratch slot first.
        pipe = self.pipeline()
        for key in keys:
            pipe.get(key)
        sketches = [s for s in pipe.execute() if s is not None]
        if not sketches:
            return 0
        scratch = self.keys.scratch(uuid.uuid4().hex)
        copies = [f"{scratch}:{i}" for i in range(len(sketches))]
        pipe = self.redis.pipeline(transaction=False)
        for copy, sketch in zip(copies, sketches):
            pipe.set(copy, sketch, ex=60)
        pipe.execute()
        try:
            return self.redis.pfcount(*copies)
        finally:
            self.redis.delete(*copies)
