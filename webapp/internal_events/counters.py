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
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from .keys import KeySpace
from .model import Definitions, Metric, Rule, TrackedEvent
from .redis_connection import Client
from .windows import (
    DAILY_DAYS,
    FRAME_DAYS,
    KEPT_DAYS,
    TOTAL_DAYS,
    WINDOW_FRAMES,
    chart_weeks,
    computable_days,
    day_number,
    day_stamp,
    days_back,
    days_of,
    seconds_until_end_of,
    today,
)

log = logging.getLogger(__name__)
# Far above any sum of bounded values (see tracker.MAX_NUMBER), far below what JSON and str() cannot write.
READABLE_LIMIT = 1e300

Number = int | float
Arg = str | int | float  # a script's argument
T = TypeVar("T")
Item = TypeVar("Item")
# Takes a read's own replies from its pipeline's, in order. Redis replies are untyped (redis-py says Any).
Finish = Callable[[Iterator[Any]], T]


def unique_element(rule: Rule, event: TrackedEvent) -> str | None:
    """What a unique rule adds to its HyperLogLog for this event, or None when the event lacks it.

    Ids are added as they are; property values are hashed to a fixed size with a
    stable hash, so the same value counts once whichever process saw it.
    """
    if rule.id_attribute:
        value = getattr(event, rule.id_attribute)
        return None if value is None else str(value)
    if rule.unique not in event.properties:
        return None
    canonical = json.dumps(_canonical_number(event.properties[rule.unique]))
    return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()


def _canonical_number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _total(raw_values: Iterable[object]) -> Number:
    return sum(_number(v) for v in raw_values if v is not None)


@lru_cache(maxsize=64)
def _frame_fields(frame: str, until: date) -> list[int]:
    """The totals hash fields of a frame's days: the same few for every metric of a read."""
    return [day_number(day) for day in days_of(frame, until)]


def _number(raw: object) -> Number:
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
# KEYS[1] is the writer's marker, the others the keys written (a hash once per field written).
# ARGV: batch number, marker ttl, then per key an op and its payload:
#   u <ttl> <w> <n> <elements...>   PFADD to a daily HyperLogLog, refresh its expiry; the next <w> KEYS
#                                   are frame windows holding that day: PFADD to those that exist
#   h <field> <amount> <oldest>     HINCRBY a day's field of a rule's totals hash; a new day's field
#                                   drops the fields of days before <oldest>.  f: the same with HINCRBYFLOAT
#   a <amount>                      INCRBY an all-time counter (never expires);  A: the same with INCRBYFLOAT
#   x <n> <fields...>               HDEL kept frame counts (chart weeks, 28-day counts) a late (replayed)
#                                   event changed
# PFADD takes at most 1000 elements at a time: Lua's unpack fails beyond about 8000.
APPLY_WRITES = """
local done = redis.call('GET', KEYS[1])
if done and tonumber(done) >= tonumber(ARGV[1]) then return 0 end
local function add(key, first, last)
  for from = first, last, 1000 do
    redis.call('PFADD', key, unpack(ARGV, from, math.min(from + 999, last)))
  end
end
local at, index = 3, 2
while index <= #KEYS do
  local key = KEYS[index]
  local op = ARGV[at]
  index = index + 1
  if op == 'u' then
    local windows, last = tonumber(ARGV[at + 2]), at + 3 + tonumber(ARGV[at + 3])
    add(key, at + 4, last)
    redis.call('EXPIRE', key, ARGV[at + 1])
    for window = index, index + windows - 1 do
      if redis.call('EXISTS', KEYS[window]) == 1 then add(KEYS[window], at + 4, last) end
    end
    index = index + windows
    at = last + 1
  elseif op == 'h' or op == 'f' then
    local amount = ARGV[at + 2]
    local now = redis.call(op == 'h' and 'HINCRBY' or 'HINCRBYFLOAT', key, ARGV[at + 1], amount)
    if tonumber(now) == tonumber(amount) then
      local oldest = tonumber(ARGV[at + 3])
      for _, field in ipairs(redis.call('HKEYS', key)) do
        if tonumber(field) < oldest then redis.call('HDEL', key, field) end
      end
    end
    at = at + 4
  elseif op == 'x' then
    local n = tonumber(ARGV[at + 1])
    redis.call('HDEL', key, unpack(ARGV, at + 2, at + 1 + n))
    at = at + 2 + n
  else
    redis.call(op == 'a' and 'INCRBY' or 'INCRBYFLOAT', key, ARGV[at + 1])
    at = at + 2
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# Long enough for any outage the spool covers; past it, a batch in flight when Redis went down may count twice.
MARKER_TTL_SECONDS = 30 * 86400

# The count of a unique metric's `7d` or `28d` frame ending today, from one window HyperLogLog per rule
# (the union of the frame's days) instead of merging 7 or 28 daily keys at every read: a window whose
# cardinality did not change is counted from the value Redis caches in it. A missing window is built
# from the daily keys, and writes keep it current from then on (APPLY_WRITES adds to it).
# KEYS: a window per rule.  ARGV: the windows' ttl, the number of days, their stamps, a key base per rule.
WINDOW_COUNT_SCRIPT = """
local days = tonumber(ARGV[2])
for index = 1, #KEYS do
  if redis.call('EXISTS', KEYS[index]) == 0 then
    local base, sources = ARGV[2 + days + index], {}
    for day = 3, 2 + days do
      local daily = base .. ':' .. ARGV[day]
      if redis.call('EXISTS', daily) == 1 then sources[#sources + 1] = daily end
    end
    if #sources > 0 then
      redis.call('PFMERGE', KEYS[index], unpack(sources))
      redis.call('EXPIRE', KEYS[index], ARGV[1])
    end
  end
end
return redis.call('PFCOUNT', unpack(KEYS))
"""
# The counts of many metrics' frames ending today, from their rules' windows, in one call: at a GitLab-sized
# service ping the client's cost per command outweighs Redis's. A missing window whose days have no daily
# key counts nothing (a rule never tracked: nothing to build); a metric with a missing window that has some
# counts -1, for WINDOW_COUNT_SCRIPT to build it a few metrics at a time.
# KEYS: the windows of each metric in turn.  ARGV: the number of stamps, the stamps of the longest frame's
# days (newest first), then per metric the number of its windows and its frame's days, then each window's
# rule base, in the order of KEYS.
BUILT_WINDOWS_COUNT_SCRIPT = """
local stamps = tonumber(ARGV[1])
local metrics = (#ARGV - 1 - stamps - #KEYS) / 2
local bases = 1 + stamps + 2 * metrics
local counts, at = {}, 1
for index = 1, metrics do
  local last = at + tonumber(ARGV[stamps + 2 * index]) - 1
  local days = tonumber(ARGV[stamps + 2 * index + 1])
  local present, built = {}, true
  for key = at, last do
    if redis.call('EXISTS', KEYS[key]) == 1 then
      present[#present + 1] = KEYS[key]
    else
      local daily = {}
      for day = 2, days + 1 do daily[#daily + 1] = ARGV[bases + key] .. ':' .. ARGV[day] end
      if redis.call('EXISTS', unpack(daily)) > 0 then built = false end
    end
  end
  if not built then
    counts[index] = -1
  elseif #present == 0 then
    counts[index] = 0
  else
    counts[index] = redis.call('PFCOUNT', unpack(present))
  end
  at = last + 1
end
return counts
"""
# The kept counts of many unique metrics' complete frames (the dashboard's previous periods) in one call:
# a kept number, 0 for a frame daily keys no longer cover and nobody kept, -1 for one FRAME_COUNTS_SCRIPT
# must count (and keep). KEYS: kept-count hashes.  ARGV: today, the oldest day with daily keys, then per
# key its frame's days and last day (day numbers).
KEPT_COUNTS_SCRIPT = """
local today, computable = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts = {}
for index = 1, #KEYS do
  local days, last = tonumber(ARGV[1 + 2 * index]), tonumber(ARGV[2 + 2 * index])
  local value = last < today and redis.call('HGET', KEYS[index], last)
  if value then
    counts[index] = tonumber(value)
  elseif last - days + 1 < computable then
    counts[index] = 0
  else
    counts[index] = -1
  end
end
return counts
"""
WINDOW_BATCH = 500
MGET_CHUNK = 1000  # all-time counters read by one MGET
MERGE_CHUNK = 500  # daily keys merged by one command (a few ms of Redis at full size)
# Many totals hashes' amounts on some days, in one call: the dashboard's overview reads every event's
# own totals per day, which as one HMGET a key costs the client far more than Redis. Sparse: for each
# amount found, its key's index, its day's index (both 1-based) and the amount.
# KEYS: totals hashes.  ARGV: the days' fields.
DAY_TOTALS_SCRIPT = """
local found = {}
for key = 1, #KEYS do
  local amounts = redis.call('HMGET', KEYS[key], unpack(ARGV))
  for day = 1, #ARGV do
    if amounts[day] then
      found[#found + 1] = key
      found[#found + 1] = day
      found[#found + 1] = amounts[day]
    end
  end
end
return found
"""
# A window outlives its day by this much, for a read that started just before midnight.
WINDOW_GRACE_SECONDS = 600

# Counts of a unique metric's complete `7d` or `28d` frames (each the distinct count of the days ending
# its last day): the 7d ones are its chart's rolling weeks, the 28d ones the dashboard's previous period.
# A complete frame (ending before today) is counted once from the daily HyperLogLogs and kept as a number
# in the metric's hash for that frame; a frame ending today is counted live. A frame whose daily keys
# expired and was never kept reads 0. Keeping a frame drops the fields of days no longer kept.
# KEYS[1]: the hash of kept counts.  ARGV: today, oldest day with daily keys, oldest day kept ('' to
# keep nothing: a read as of a past day), the frame's length in days, the number of rules, their key
# bases, the first day of the stamps, their number, the stamps, then the last days of the frames wanted.
# Day numbers count days since 1970-01-01.
FRAME_COUNTS_SCRIPT = """
local today, computable, kept = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local length, rules = tonumber(ARGV[4]), tonumber(ARGV[5])
local first_day, stamps = tonumber(ARGV[6 + rules]), 8 + rules
local at = stamps + tonumber(ARGV[7 + rules])
local values, stored = {}, false
for index = at, #ARGV do
  local last = tonumber(ARGV[index])
  local value = last < today and redis.call('HGET', KEYS[1], last)
  if not value then
    value = 0
    if last - length + 1 >= computable then
      local keys = {}
      for rule = 1, rules do
        for day = last - length + 1, last do
          keys[#keys + 1] = ARGV[5 + rule] .. ':' .. ARGV[stamps + day - first_day]
        end
      end
      value = redis.call('PFCOUNT', unpack(keys))
      if last < today and kept then
        redis.call('HSET', KEYS[1], last, value)
        stored = true
      end
    end
  end
  values[#values + 1] = tonumber(value)
end
if stored then
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if tonumber(field) < kept then redis.call('HDEL', KEYS[1], field) end
  end
end
return values
"""


@dataclass(slots=True)
class UniqueWrite:
    """PFADD `elements` to a daily HyperLogLog, refresh its `ttl`, and add them to those of `windows` that exist."""

    ttl: int
    windows: list[str]
    elements: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CountWrite:
    """Add `amount` to a day's field (`day_field`) of a totals hash (op h, f), or to an all-time counter (a, A)."""

    op: str
    day_field: int | None
    amount: Number = 0


@dataclass(slots=True)
class ForgetWrite:
    """HDEL the kept frame counts (their last days' `fields`) a late event changed."""

    fields: set[str] = field(default_factory=set)


Write = UniqueWrite | CountWrite | ForgetWrite
WriteKey = tuple[str, int | str | None]  # (key, hash field or None)
W = TypeVar("W", UniqueWrite, CountWrite, ForgetWrite)


def _queued(writes: dict[WriteKey, Write], key: WriteKey, new: W) -> W:
    """The write already queued under `key`, else `new` (now queued): a key only ever takes one kind of write."""
    entry = writes.setdefault(key, new)
    assert isinstance(entry, type(new))  # keys differ by kind: a daily key, a totals field, a kept-counts key
    return entry


class WriteBatch:
    """The Redis writes of a batch of events, merged by key and grouped by hash slot (event).

    Pure bookkeeping: a hundred events of one kind become one script call that
    adds a hundred elements and increments each counter once.
    """

    def __init__(self, keyspace: KeySpace, definitions: Definitions, now_seconds: float | None = None) -> None:
        self.keys = keyspace
        self.definitions = definitions
        self.now = time.time() if now_seconds is None else now_seconds
        self.today = datetime.fromtimestamp(self.now, UTC).date()
        # event name -> {(key, hash field or None): write}
        self.slots: dict[str, dict[WriteKey, Write]] = {}
        # (rule, day) -> where its events' writes go: built once per batch, not once per event
        self._unique_targets: dict[tuple[Rule, date], list[str] | None] = {}
        self._count_targets: dict[tuple[Rule, date], list[CountWrite]] = {}

    def add(self, rules: Iterable[Rule], event: TrackedEvent, day: date) -> None:
        """Queue the writes of `event`'s rules; a rule lacking its data is left out (`prepare` reports it)."""
        writes = self.slots.get(event.name)
        if writes is None:
            writes = self.slots[event.name] = {}
        properties, unique_targets, count_targets = event.properties, self._unique_targets, self._count_targets
        for rule in rules:
            if rule.filter and not rule.matches(properties):
                continue
            kind = rule.kind
            if kind == "unique":
                element = unique_element(rule, event)
                if element is None:
                    continue
                try:
                    elements = unique_targets[rule, day]
                except KeyError:
                    elements = unique_targets[rule, day] = self._unique_target(writes, rule, day)
                if elements is not None:
                    elements.append(element)
            elif kind == "total" or "value" in properties:
                entries = count_targets.get((rule, day))
                if entries is None:
                    entries = count_targets[rule, day] = self._counts(writes, rule, day)
                amount = 1 if kind == "total" else properties["value"]
                for entry in entries:
                    entry.amount += amount

    def _unique_target(self, writes: dict[WriteKey, Write], rule: Rule, day: date) -> list[str] | None:
        """The element list of a unique rule's daily key; None when that day's key is already gone
        (too late for any window or chart week that could show it)."""
        ttl = seconds_until_end_of(day + timedelta(days=DAILY_DAYS - 1), self.now)
        if ttl <= 0:
            return None
        entry = _queued(writes, (self.keys.daily(rule, day), None), UniqueWrite(ttl, self._windows_holding(rule, day)))
        if day < self.today:
            self._forget_frames(rule, day)
        return entry.elements

    def _windows_holding(self, rule: Rule, day: date) -> list[str]:
        """Today's frame windows that hold `day`, and tomorrow's, for a process whose clock is already there."""
        return [
            self.keys.window(rule, frame, until)
            for until in (self.today, self.today + timedelta(days=1))
            for frame in WINDOW_FRAMES
            if 0 <= (until - day).days < FRAME_DAYS[frame]
        ]

    def _forget_frames(self, rule: Rule, day: date) -> None:
        """A late event (replayed from the spool) changes the kept frame counts holding its day: drop them.

        Only counts the next read or daily pass can still count again from daily keys are dropped (a frame
        the pass of tomorrow still reaches); older ones keep their value, without this event.
        """
        for frame in WINDOW_FRAMES:
            oldest = self.today - timedelta(days=computable_days(frame) - 1)
            ends = (day + timedelta(days=n) for n in range(FRAME_DAYS[frame]))
            lasts = [str(day_number(last)) for last in ends if oldest <= last < self.today]
            for rules in self.definitions.unique_rule_sets(rule) if lasts else ():
                writes = self.slots.setdefault(rules[0].event, {})
                _queued(writes, (self.keys.kept_counts(rules, frame), "x"), ForgetWrite()).fields.update(lasts)

    def _counts(self, writes: dict[WriteKey, Write], rule: Rule, day: date) -> list[CountWrite]:
        """The entries a total or sum rule adds to: its day's field (while charts show that day) and its all-time counter."""
        daily_op, all_op = ("h", "a") if rule.kind == "total" else ("f", "A")
        entries = []
        if (self.today - day).days < TOTAL_DAYS:
            field = day_number(day)
            entries.append(_queued(writes, (self.keys.daily_totals(rule), field), CountWrite(daily_op, field)))
        entries.append(_queued(writes, (self.keys.all_time(rule), None), CountWrite(all_op, None)))
        return entries

    def script_calls(self) -> Iterator[tuple[str, list[str], list[Arg]]]:
        """(event, keys, args) for one script call per slot."""
        oldest_total = day_number(self.today) - TOTAL_DAYS + 1
        for event, writes in self.slots.items():
            if not writes:
                continue
            keys: list[str] = []
            args: list[Arg] = []
            for (key, _field), write in writes.items():
                keys.append(key)
                if isinstance(write, UniqueWrite):
                    keys += write.windows
                    args += ["u", write.ttl, len(write.windows), len(write.elements), *write.elements]
                elif isinstance(write, ForgetWrite):
                    args += ["x", len(write.fields), *sorted(write.fields)]
                elif write.day_field is not None:  # h, f
                    args += [write.op, write.day_field, write.amount, oldest_total]
                else:
                    args += [write.op, write.amount]
            yield event, keys, args


def _listed(finish: Finish[T]) -> Finish[list[T]]:
    """A read's value as a list of one, to be read beside reads of several values."""
    return lambda replies: [finish(replies)]


class CounterStore:
    def __init__(self, redis: Client, keyspace: KeySpace) -> None:
        self.redis = redis
        self.keys = keyspace
        self.is_cluster = isinstance(redis, RedisCluster)
        self._script_sha: str | None = None
        self._read_shas: dict[str, str] = {}  # script -> sha

    # -- writing ---------------------------------------------------------------------------------

    def write_batch(self, definitions: Definitions) -> WriteBatch:
        """An empty write batch; `definitions` name the charts a late event's unique writes change."""
        return WriteBatch(self.keys, definitions)

    def write(self, write_batch: WriteBatch, writer: str, number: int) -> list[str]:
        """Apply a write batch as batch `number` of `writer`, in one round trip (one script call per slot, pipelined).

        Returns the markers used. Safe to call again with the same writer and number.
        """
        return self.write_many([(write_batch, writer, number)])

    def write_many(self, batches: Iterable[tuple[WriteBatch, str, int]]) -> list[str]:
        """`write` for several (write batch, writer, number) in one round trip."""
        calls: list[tuple[list[str], list[Arg]]] = [
            ([self.keys.writer_marker(event, writer), *keys], [number, MARKER_TTL_SECONDS, *args])
            for write_batch, writer, number in batches
            for event, keys, args in write_batch.script_calls()
        ]
        if calls:
            try:
                self._run(calls)
            except NoScriptError:  # the server restarted or flushed its scripts: slots done are skipped
                self._script_sha = None
                self._run(calls)
        return [keys[0] for keys, args in calls]

    def _run(self, calls: list[tuple[list[str], list[Arg]]]) -> None:
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

    def pipeline(self) -> Client:
        return self.redis.pipeline(transaction=False)

    # -- reading ---------------------------------------------------------------------------------

    def value(self, metric: Metric, until: date) -> Number:
        return self.values([(metric, until)])[0]

    def values(self, queries: Sequence[tuple[Metric, date]]) -> list[Number]:
        """The values of many (metric, until) pairs, read in one round trip (two if some window needs building).

        Totals, sums and all-time counters are read together in a few commands (see `_queue_sums`), and
        unique metrics' windows and kept counts a script call per WINDOW_BATCH metrics: at a GitLab-sized
        tree, a command per rule or metric cost the client more than Redis spent answering.
        """
        now = today()
        windowed: list[int] = []
        kept: list[int] = []
        summed: list[int] = []
        others: list[int] = []
        for index, (metric, until) in enumerate(queries):
            if metric.time_frame == "all" or metric.kind != "unique":
                summed.append(index)
            elif metric.time_frame not in WINDOW_FRAMES or self.is_cluster or until > now:
                others.append(index)
            else:
                (windowed if until == now else kept).append(index)
        batched = (
            (windowed, self._queue_built_windows),
            (kept, self._queue_kept_counts),
        )

        def queue(pipe: Client) -> list[Finish[Sequence[Number | None]]]:
            finishers: list[Finish[Sequence[Number | None]]] = [
                _listed(self._queue_value(pipe, *queries[index])) for index in others
            ]
            finishers.append(self._queue_sums(pipe, [queries[index] for index in summed]))
            for indexes, queue_batch in batched:
                for start in range(0, len(indexes), WINDOW_BATCH):
                    finishers.append(
                        queue_batch(pipe, [queries[index] for index in indexes[start : start + WINDOW_BATCH]])
                    )
            return finishers

        values: list[Number | None] = [None] * len(queries)
        read = (value for batch in self._read(queue) for value in batch)
        for index, value in zip(others + summed + windowed + kept, read):
            values[index] = value
        # windows to build, frames to count and keep: a few metrics at a time
        missing = [index for index, value in enumerate(values) if value is None]
        counted = dict(
            zip(missing, self._read_in_chunks(missing, lambda pipe, index: self._queue_value(pipe, *queries[index])))
        )
        return [counted[index] if value is None else value for index, value in enumerate(values)]

    def weekly_values(self, metric: Metric, until: date) -> list[tuple[date, Number]]:
        """[(last day of week, value)] for the chart's rolling weeks; `all` metrics chart their weekly totals."""
        return self.weekly_series([metric], until)[0]

    def weekly_series(self, metrics: Iterable[Metric], until: date) -> list[list[tuple[date, Number]]]:
        """`weekly_values` of many metrics, read in one round trip."""
        lasts = [last for first, last in chart_weeks(until)]
        series = self._read(lambda pipe: [self._queue_weeks(pipe, metric.rules, lasts, until) for metric in metrics])
        return [list(zip(lasts, values)) for values in series]

    def keep_frames(self, rule_sets: Iterable[Sequence[Rule]], day: date, daily_days: int = DAILY_DAYS) -> None:
        """Count and keep every complete 7d and 28d frame of these unique rule sets that daily keys still allow.

        Run once a day (see history.py), so a chart keeps its weeks and the dashboard its previous 28 days
        even if nobody read them before their daily keys expired. `daily_days`: how long the daily keys
        counted from were kept (longer than today's for keys an older release wrote, see upgrade.py).
        """
        queries = [
            (rules, frame, [day - timedelta(days=back) for back in range(computable_days(frame, daily_days), 0, -1)])
            for rules in rule_sets
            for frame in WINDOW_FRAMES
        ]
        # A new install counts 23 weeks a rule set at first (about 10 ms of Redis at full size): small pipelines.
        self._read_in_chunks(
            [query for query in queries if query[2]],
            lambda pipe, query: self._queue_frames(pipe, *query, day, True, daily_days),
            size=10,
        )

    def build_windows(self, rule_sets: Iterable[Sequence[Rule]], day: date) -> None:
        """Build the frame windows of `day` ahead of the first read (the daily pass does, see history.py)."""
        queries = [(rules, frame) for rules in rule_sets for frame in WINDOW_FRAMES]
        self._read_in_chunks(queries, lambda pipe, query: self._queue_window_count(pipe, *query, day))

    def day_total(self, rule: Rule, day: date) -> Number:
        """A total or sum rule's count on one day."""
        return _total([self.redis.hget(self.keys.daily_totals(rule), day_number(day))])

    def day_totals(self, rules: Sequence[Rule], days: Sequence[date]) -> dict[date, dict[Rule, Number]]:
        """{day: {rule: amount}} of total or sum rules on `days`, amounts found only: one round trip, exact."""
        keys = [self.keys.daily_totals(rule) for rule in rules]
        found: dict[date, dict[Rule, Number]] = {day: {} for day in days}
        if not rules or not days:
            return found
        (amounts,) = self._read(lambda pipe: [self._queue_totals(pipe, keys, [day_number(day) for day in days])])
        for rule, key in zip(rules, keys):
            for at, amount in amounts.get(key, {}).items():
                if amount:
                    found[days[at]][rule] = amount
        return found

    def _read_in_chunks(
        self, items: Sequence[Item], queue_one: Callable[[Client, Item], Finish[T]], size: int = 50
    ) -> list[T]:
        """`_read` for heavy reads (merging full-size HyperLogLogs takes about a millisecond each):
        pipelines short enough for Redis to answer other clients, and this one, within its timeout."""
        values: list[T] = []
        for start in range(0, len(items), size):
            values += self._read(lambda pipe: [queue_one(pipe, item) for item in items[start : start + size]])
        return values

    def _read(self, queue: Callable[[Client], list[Finish[T]]]) -> list[T]:
        """Run `queue(pipe)`, which returns a function per read that takes its own replies from the pipeline's."""
        pipe = self.pipeline()
        finishers = queue(pipe)
        try:
            replies = pipe.execute()
        except NoScriptError:  # the server restarted or flushed its scripts: load them again, once
            self._read_shas.clear()
            pipe = self.pipeline()
            finishers = queue(pipe)
            replies = pipe.execute()
        unread = iter(replies)
        return [finish(unread) for finish in finishers]

    def _queue_value(self, pipe: Client, metric: Metric, until: date) -> Finish[Number]:
        """A unique metric's value, for what the batched reads of `values` leave: a cluster's, a window to
        build, a complete frame to count and keep, a frame ending after today."""
        if metric.time_frame in WINDOW_FRAMES and until == today():
            return self._queue_window_count(pipe, metric.rules, metric.time_frame, until)
        if metric.time_frame in WINDOW_FRAMES and until < today():  # a kept count
            finish = self._queue_frames(pipe, metric.rules, metric.time_frame, [until], today(), True)
            return lambda replies: finish(replies)[0]
        return self._queue_union(  # a frame ending after today
            pipe,
            metric.rules,
            [self.keys.daily(rule, day) for rule in metric.rules for day in days_of(metric.time_frame, until)],
        )

    def _queue_sums(self, pipe: Client, queries: Sequence[tuple[Metric, date]]) -> Finish[list[Number]]:
        """The values of (metric, until) queries of totals, sums and all-time counters.

        A key shared by several queries (a 7d and a 28d of one event) is read once: one MGET (a GET a key
        on a cluster) for every all-time counter, and a `_queue_totals` for each frame read.
        """
        wanted = [
            (
                None if metric.time_frame == "all" else (metric.time_frame, until),
                [
                    self.keys.all_time(rule) if metric.time_frame == "all" else self.keys.daily_totals(rule)
                    for rule in metric.rules
                ],
            )
            for metric, until in queries
        ]
        all_time: dict[str, None] = {}  # keys once each, in order
        by_frame: dict[tuple[str, date], dict[str, None]] = {}
        for group, keys in wanted:
            (all_time if group is None else by_frame.setdefault(group, {})).update(dict.fromkeys(keys))
        counters = self._queue_counters(pipe, list(all_time))
        frames = {
            group: self._queue_totals(pipe, list(keys), _frame_fields(*group)) for group, keys in by_frame.items()
        }

        def finish(replies: Iterator[Any]) -> list[Number]:
            counted = counters(replies)
            found = {group: read(replies) for group, read in frames.items()}
            return [
                sum(counted.get(key, 0) for key in keys)
                if group is None
                else sum(sum(found[group].get(key, {}).values()) for key in keys)
                for group, keys in wanted
            ]

        return finish

    def _queue_weeks(
        self, pipe: Client, rules: Sequence[Rule], lasts: list[date], until: date
    ) -> Finish[Sequence[Number]]:
        if rules[0].kind != "unique":  # sums of days: the days' fields are the whole history
            first = lasts[0] - timedelta(days=6)
            fields = [day_number(first + timedelta(days=n)) for n in range((lasts[-1] - first).days + 1)]
            finishers = [self._queue_fields(pipe, self.keys.daily_totals(rule), fields) for rule in rules]

            def weekly_sums(replies: Iterator[Any]) -> list[Number]:
                per_day = [sum(amounts) for amounts in zip(*(finish(replies) for finish in finishers))]
                return [sum(per_day[end - 6 : end + 1]) for end in (7 * n + 6 for n in range(len(lasts)))]

            return weekly_sums
        # Only a chart of today keeps its weeks: as of a past day, keys that expired since would look countable.
        return self._queue_frames(pipe, rules, "7d", lasts, until, until >= today())

    def _queue_frames(
        self,
        pipe: Client,
        rules: Sequence[Rule],
        frame: str,
        lasts: Sequence[date],
        now: date,
        keep: bool,
        daily_days: int = DAILY_DAYS,
    ) -> Finish[list[int]]:
        """The counts of `frame`s ending on `lasts` as of day `now`: kept numbers, or counted from daily keys
        (and kept when `keep`)."""
        if len(rules) * FRAME_DAYS[frame] > MERGE_CHUNK or (self.is_cluster and len({r.event for r in rules}) > 1):
            values = self._frames_one_by_one(rules, frame, lasts, now, keep, daily_days)
            return lambda replies: values
        pipe.execute_command(
            "EVALSHA",
            self._script(FRAME_COUNTS_SCRIPT),
            1,
            self.keys.kept_counts(rules, frame),
            *self._frames_arguments(rules, frame, lasts, now, keep, daily_days),
        )
        return next

    def _queue_built_windows(self, pipe: Client, queries: Sequence[tuple[Metric, date]]) -> Finish[list[int | None]]:
        """The frame counts of several (metric, today) queries in one call; None where a window must be built."""
        until = queries[0][1]
        longest = max((metric.time_frame for metric, _ in queries), key=FRAME_DAYS.__getitem__)
        stamps = [day_stamp(day) for day in days_of(longest, until)]
        keys = [[self.keys.window(rule, metric.time_frame, until) for rule in metric.rules] for metric, _ in queries]
        pipe.execute_command(
            "EVALSHA",
            self._script(BUILT_WINDOWS_COUNT_SCRIPT),
            sum(map(len, keys)),
            *(key for group in keys for key in group),
            len(stamps),
            *stamps,
            *(n for (metric, _), group in zip(queries, keys) for n in (len(group), FRAME_DAYS[metric.time_frame])),
            *(self.keys.rule_base(rule) for metric, _ in queries for rule in metric.rules),
        )
        return lambda replies: [None if count == -1 else count for count in next(replies)]

    def _queue_kept_counts(self, pipe: Client, queries: Sequence[tuple[Metric, date]]) -> Finish[list[int | None]]:
        """The kept counts of several (unique metric, day before today) queries in one call; None where a frame
        must be counted from daily keys first."""
        number = day_number(today())
        pipe.execute_command(
            "EVALSHA",
            self._script(KEPT_COUNTS_SCRIPT),
            len(queries),
            *(self.keys.kept_counts(metric.rules, metric.time_frame) for metric, _ in queries),
            number,
            number - DAILY_DAYS + 1,
            *(n for metric, until in queries for n in (FRAME_DAYS[metric.time_frame], day_number(until))),
        )
        return lambda replies: [None if count == -1 else count for count in next(replies)]

    def _queue_window_count(self, pipe: Client, rules: Sequence[Rule], frame: str, until: date) -> Finish[int]:
        ttl = seconds_until_end_of(until, time.time()) + WINDOW_GRACE_SECONDS
        stamps = [day_stamp(day) for day in days_of(frame, until)]
        by_slot: dict[str | None, list[Rule]] = {}  # a single server runs one script over every event's keys
        for rule in rules:
            by_slot.setdefault(rule.event if self.is_cluster else None, []).append(rule)
        calls = [
            (
                [self.keys.window(rule, frame, until) for rule in group],
                [ttl, len(stamps), *stamps, *(self.keys.rule_base(rule) for rule in group)],
            )
            for group in by_slot.values()
        ]
        if self.is_cluster and len(calls) > 1:  # build each slot's windows, then copy them to one slot
            for keys, args in calls:
                self.redis.evalsha(self._script(WINDOW_COUNT_SCRIPT), len(keys), *keys, *args)
            union = self._union_count_across_slots([key for keys, args in calls for key in keys])
            return lambda replies: union
        ((keys, args),) = calls
        pipe.execute_command("EVALSHA", self._script(WINDOW_COUNT_SCRIPT), len(keys), *keys, *args)
        return next

    def _frames_arguments(
        self, rules: Sequence[Rule], frame: str, lasts: Sequence[date], now: date, keep: bool, daily_days: int
    ) -> list[Arg]:
        length = FRAME_DAYS[frame]
        first = min(lasts) - timedelta(days=length - 1)
        days = [first + timedelta(days=n) for n in range((max(lasts) - first).days + 1)]
        number = day_number(now)
        return [
            number,
            number - daily_days + 1,
            number - KEPT_DAYS[frame] + 1 if keep else "",
            length,
            len(rules),
            *(self.keys.rule_base(rule) for rule in rules),
            day_number(first),
            len(days),
            *(day_stamp(day) for day in days),
            *(day_number(last) for last in lasts),
        ]

    def _frames_one_by_one(
        self, rules: Sequence[Rule], frame: str, lasts: Sequence[date], now: date, keep: bool, daily_days: int
    ) -> list[int]:
        """FRAME_COUNTS_SCRIPT, a frame at a time, for rule sets one script call cannot count: too many daily
        keys to merge without holding Redis (the dashboard's active users), or keys in several cluster slots."""
        key = self.keys.kept_counts(rules, frame)
        kept = self.redis.hmget(key, [day_number(last) for last in lasts])
        values = []
        for last, value in zip(lasts, kept):
            if value is not None and last < now:
                values.append(int(value))
            elif (now - last).days <= computable_days(frame, daily_days):
                value = self._union_count(
                    rules, [self.keys.daily(rule, day) for rule in rules for day in days_back(last, FRAME_DAYS[frame])]
                )
                if last < now and keep:
                    self.redis.hset(key, day_number(last), value)
                values.append(value)
            else:
                values.append(0)
        oldest = day_number(now) - KEPT_DAYS[frame] + 1
        if keep and (stale := [field for field in self.redis.hkeys(key) if int(field) < oldest]):
            self.redis.hdel(key, *stale)
        return values

    def _union_count(self, rules: Sequence[Rule], keys: list[str]) -> int:
        """The distinct count of many HyperLogLogs, merged into a scratch key in their slot a chunk per command,
        so other clients are served in between (one command over 35,000 full-size keys holds Redis ~1 s)."""
        if self.is_cluster and len({rule.event for rule in rules}) > 1:
            return self._union_count_across_slots(keys)
        scratch = f"{self.keys.rule_base(rules[0])}:merging:{uuid.uuid4().hex}"
        pipe = self.pipeline()
        for start in range(0, len(keys), MERGE_CHUNK):
            pipe.execute_command("PFMERGE", scratch, *keys[start : start + MERGE_CHUNK])
        pipe.expire(scratch, 60)  # should this process die right here
        pipe.execute_command("PFCOUNT", scratch)
        pipe.delete(scratch)
        return int(pipe.execute()[-2])

    def _script(self, script: str) -> str:
        sha = self._read_shas.get(script)
        if sha is None:
            sha = self._read_shas[script] = self.redis.script_load(script)
        return sha

    def _queue_union(self, pipe: Client, rules: Sequence[Rule], keys: list[str]) -> Finish[int]:
        if self.is_cluster and len({rule.event for rule in rules}) > 1:
            union = self._union_count_across_slots(keys)
            return lambda replies: union
        # Keys of one event share a slot. Not pipe.pfcount: a cluster pipeline refuses it but routes the command.
        pipe.execute_command("PFCOUNT", *keys)
        return next

    def _queue_counters(self, pipe: Client, keys: list[str]) -> Finish[dict[str, Number]]:
        """{key: number} of plain counters, those found only."""
        if self.is_cluster:  # a cluster pipeline cannot MGET across slots
            for key in keys:
                pipe.get(key)
        chunks = [] if self.is_cluster else [keys[at : at + MGET_CHUNK] for at in range(0, len(keys), MGET_CHUNK)]
        for chunk in chunks:
            pipe.mget(chunk)

        def numbers(replies: Iterator[Any]) -> dict[str, Number]:
            raws = [next(replies) for _ in keys] if self.is_cluster else [raw for _ in chunks for raw in next(replies)]
            return {key: _number(raw) for key, raw in zip(keys, raws, strict=True) if raw is not None}

        return numbers

    def _queue_totals(self, pipe: Client, keys: list[str], fields: list[int]) -> Finish[dict[str, dict[int, Number]]]:
        """{key: {field's index: amount}} of some days of many totals hashes, amounts found only.

        A single server answers one DAY_TOTALS_SCRIPT call per WINDOW_BATCH keys; a cluster, whose
        keys live in many slots, one HMGET per key.
        """
        if self.is_cluster:
            for key in keys:
                pipe.hmget(key, fields)
            return lambda replies: {
                key: {at: _number(raw) for at, raw in enumerate(next(replies)) if raw is not None} for key in keys
            }
        batches = [keys[start : start + WINDOW_BATCH] for start in range(0, len(keys), WINDOW_BATCH)]
        for batch in batches:
            pipe.execute_command("EVALSHA", self._script(DAY_TOTALS_SCRIPT), len(batch), *batch, *fields)

        def sparse(replies: Iterator[Any]) -> dict[str, dict[int, Number]]:
            found: dict[str, dict[int, Number]] = {}
            for batch in batches:
                reply = next(replies)
                for at in range(0, len(reply), 3):
                    found.setdefault(batch[int(reply[at]) - 1], {})[int(reply[at + 1]) - 1] = _number(reply[at + 2])
            return found

        return sparse

    def _queue_fields(self, pipe: Client, key: str, fields: list[int]) -> Finish[list[Number]]:
        """The amounts of some days of one totals hash, as numbers (0 for a day without any)."""
        pipe.hmget(key, fields)
        return lambda replies: [_number(raw) if raw is not None else 0 for raw in next(replies)]

    def _union_count_across_slots(self, keys: list[str]) -> int:
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
            return int(self.redis.pfcount(*copies))
        finally:
            self.redis.delete(*copies)
