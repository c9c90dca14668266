"""Counters in Redis: writing an event's rules in one round trip, reading metric values back.

Unique counts are HyperLogLogs (about 0.81% standard error, at most 12 KB a key);
totals and sums are plain counters. Both are kept per UTC day so any rolling
window is a union (PFCOUNT of several keys) or a sum of days.

Writes apply at most once. Every writer (a thread of a process) numbers its
batches, and the script writing a batch's keys for one event also keeps the
writer's last applied number in a marker of the same slot: a batch sent again
(a retry, a replay from the spool, a reply lost after Redis applied it) is skipped.
"""

import hashlib
import json
import logging
import math
import uuid

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from .keys import KeySpace
from .model import IDENTIFIERS
from .windows import RETENTION_SECONDS, chart_weeks, days_back, days_of

log = logging.getLogger(__name__)
# Far above any sum of bounded values (see tracker.MAX_NUMBER), far below what JSON and str() cannot write.
READABLE_LIMIT = 1e300


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


def _total(raw_values):
    return sum(_number(v) for v in raw_values if v is not None)


def _number(raw):
    """A stored counter's number; 0 (and a warning) for what no write of ours stores, so reads never raise."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        number = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:  # not a number, or more digits than Python converts
        number = math.nan
    if not abs(number) < READABLE_LIMIT:  # also NaN and infinities, which JSON cannot carry
        log.warning("Counter value %r is not a number our writes store: read as 0", text[:40])
        return 0
    return number


# Applies a batch of merged writes for one hash slot, unless its number says it already was.
# KEYS[1] is the writer's marker, the others the keys written.
# ARGV: batch number, marker ttl, key ttl, then per key an op and its payload:
#   u <n> <elements...>  PFADD to a daily HyperLogLog, refresh its expiry
#   d <amount>           INCRBY a daily counter, refresh its expiry;   D: the same with INCRBYFLOAT
#   a <amount>           INCRBY an all-time counter (never expires);   A: the same with INCRBYFLOAT
# PFADD takes at most 1000 elements at a time: Lua's unpack fails beyond about 8000.
APPLY_WRITES = """
local done = redis.call('GET', KEYS[1])
if done and tonumber(done) >= tonumber(ARGV[1]) then return 0 end
local ttl = ARGV[3]
local at = 4
for index = 2, #KEYS do
  local key = KEYS[index]
  local op = ARGV[at]
  if op == 'u' then
    local n = tonumber(ARGV[at + 1])
    local last = at + 1 + n
    for first = at + 2, last, 1000 do
      redis.call('PFADD', key, unpack(ARGV, first, math.min(first + 999, last)))
    end
    redis.call('EXPIRE', key, ttl)
    at = at + 2 + n
  else
    local amount = ARGV[at + 1]
    if op == 'd' or op == 'a' then redis.call('INCRBY', key, amount)
    else redis.call('INCRBYFLOAT', key, amount) end
    if op == 'd' or op == 'D' then redis.call('EXPIRE', key, ttl) end
    at = at + 2
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# Long enough for any outage the spool covers; past it, a batch in flight when Redis went down may count twice.
MARKER_TTL_SECONDS = 30 * 86400


class WritePlan:
    """The Redis writes of a batch of events, merged by key and grouped by hash slot (event).

    Pure bookkeeping: a hundred events of one kind become one script call that
    adds a hundred elements and increments each counter once.
    """

    def __init__(self, keyspace: KeySpace):
        self.keys = keyspace
        self.slots = {}  # event name -> {key: [op, payload]}

    def add(self, rules, event, day):
        """Queue the writes of `event`'s rules; a rule lacking its data is left out (`prepare` reports it)."""
        writes = self.slots.setdefault(event.name, {})
        for rule in rules:
            if not rule.matches(event.properties):
                continue
            if rule.kind == "unique":
                element = unique_element(rule, event)
                if element is not None:
                    writes.setdefault(self.keys.daily(rule, day), ["u", []])[1].append(element)
            elif rule.kind == "total":
                self._count(writes, rule, day, "d", "a", 1)
            elif "value" in event.properties:
                self._count(writes, rule, day, "D", "A", event.properties["value"])

    def _count(self, writes, rule, day, daily_op, all_op, amount):
        for key, op in ((self.keys.daily(rule, day), daily_op), (self.keys.all_time(rule), all_op)):
            writes.setdefault(key, [op, 0])[1] += amount

    def script_calls(self):
        """(event, keys, args) for one script call per slot."""
        for event, writes in self.slots.items():
            if not writes:
                continue
            args = [RETENTION_SECONDS]
            for op, payload in writes.values():
                args += [op, len(payload), *payload] if op == "u" else [op, payload]
            yield event, list(writes), args


class CounterStore:
    def __init__(self, redis, keyspace: KeySpace):
        self.redis = redis
        self.keys = keyspace
        self.is_cluster = isinstance(redis, RedisCluster)
        self._script_sha = None

    # -- writing ---------------------------------------------------------------------------------

    def plan(self):
        return WritePlan(self.keys)

    def write(self, plan, writer, number):
        """Apply a plan as batch `number` of `writer`, in one round trip (one script call per slot, pipelined).

        Returns the markers used. Safe to call again with the same writer and number.
        """
        return self.write_many([(plan, writer, number)])

    def write_many(self, batches):
        """`write` for several (plan, writer, number) batches in one round trip."""
        calls = [
            ([self.keys.writer_marker(event, writer), *keys], [number, MARKER_TTL_SECONDS, *args])
            for plan, writer, number in batches
            for event, keys, args in plan.script_calls()
        ]
        if calls:
            try:
                self._run(calls)
            except NoScriptError:  # the server restarted or flushed its scripts: slots done are skipped
                self._script_sha = None
                self._run(calls)
        return [keys[0] for keys, args in calls]

    def _run(self, calls):
        if self._script_sha is None:
            self._script_sha = self.redis.script_load(APPLY_WRITES)
        if len(calls) == 1:  # the common case; a pipeline would only add overhead
            keys, args = calls[0]
            self.redis.evalsha(self._script_sha, len(keys), *keys, *args)
            return
        pipe = self.pipeline()
        for keys, args in calls:
            # Not pipe.evalsha: a cluster pipeline refuses that method but routes the command by its keys.
            pipe.execute_command("EVALSHA", self._script_sha, len(keys), *keys, *args)
        pipe.execute()

    def pipeline(self):
        return self.redis.pipeline(transaction=False)

    # -- reading ---------------------------------------------------------------------------------

    def value(self, metric, until):
        return self.values([(metric, until)])[0]

    def values(self, queries):
        """The values of many (metric, until) pairs, read in one round trip."""
        return self._read([(metric, self._frame_keys(metric, until)) for metric, until in queries])

    def weekly_values(self, metric, until):
        """[(last day of week, value)] for the chart's rolling weeks; `all` metrics chart their weekly totals."""
        return self.weekly_series([metric], until)[0]

    def weekly_series(self, metrics, until):
        """`weekly_values` of many metrics, read in one round trip."""
        lasts = [last for first, last in chart_weeks(until)]
        values = iter(self._read([(metric, self._daily_keys(metric, days_back(last, 7)))
                                  for metric in metrics for last in lasts]))
        return [[(last, next(values)) for last in lasts] for _ in metrics]

    def _frame_keys(self, metric, until):
        if metric.time_frame == "all":
            return [self.keys.all_time(rule) for rule in metric.rules]
        return self._daily_keys(metric, days_of(metric.time_frame, until))

    def _daily_keys(self, metric, days):
        return [self.keys.daily(rule, day) for rule in metric.rules for day in days]

    def _read(self, reads):
        """The value of each (metric, keys) read: a union count or a sum, all in one pipeline.

        Each read leaves a function that takes its own replies from the pipeline's.
        """
        pipe, finishers = self.pipeline(), []
        for metric, keys in reads:
            if metric.kind == "unique" and self.is_cluster and len(metric.events) > 1:
                union = self._union_count_across_slots(keys)
                finishers.append(lambda replies, union=union: union)
            elif metric.kind == "unique":  # keys of one event share a slot
                # Not pipe.pfcount: a cluster pipeline refuses that method but routes the command by its keys.
                pipe.execute_command("PFCOUNT", *keys)
                finishers.append(next)
            elif self.is_cluster:  # a cluster pipeline cannot MGET across slots
                for key in keys:
                    pipe.get(key)
                finishers.append(lambda replies, n=len(keys): _total(next(replies) for _ in range(n)))
            else:
                pipe.mget(keys)
                finishers.append(lambda replies: _total(next(replies)))
        replies = iter(pipe.execute())
        return [finish(replies) for finish in finishers]

    def _union_count_across_slots(self, keys):
        """A cluster cannot union HLLs across slots: copy them into one scratch slot first."""
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
