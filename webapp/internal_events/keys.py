"""Redis key names for counting rules.

Each key carries its event name as a Redis Cluster hash tag, `ie:{project_created}:...`:
everything one event writes lands in one slot (one pipeline, one node), while
different events spread over the cluster instead of piling onto one node.
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import date

from .model import Rule
from .windows import day_stamp


class KeySpace:
    """Key names under one prefix, so tests and several apps can share a Redis."""

    def __init__(self, prefix: str = "ie:") -> None:
        self.prefix = prefix
        self._bases: dict[Rule, str] = {}  # rule -> key base: rules are few and keys are built for every event

    def rule_base(self, rule: Rule) -> str:
        base = self._bases.get(rule)
        if base is None:
            base = self._bases[rule] = self._build_base(rule)
        return base

    def _build_base(self, rule: Rule) -> str:
        parts = [f"{self.prefix}{{{rule.event}}}", rule.kind[0]]
        if rule.unique:
            parts.append(rule.unique)
        if rule.filter:
            parts.append("f" + json.dumps(rule.filter, separators=(",", ":"), ensure_ascii=False))
        return ":".join(parts)

    def daily(self, rule: Rule, day: date) -> str:
        """A unique rule's HyperLogLog of one day."""
        return f"{self.rule_base(rule)}:{day_stamp(day)}"

    def window(self, rule: Rule, frame: str, until: date) -> str:
        """A unique rule's HyperLogLog of a whole `7d` or `28d` frame ending `until` (see counters.py)."""
        return f"{self.rule_base(rule)}:{frame}:{day_stamp(until)}"

    def daily_totals(self, rule: Rule) -> str:
        """A total or sum rule's hash of day number -> amount: one small key instead of a key a day."""
        return f"{self.rule_base(rule)}:days"

    def kept_counts(self, rules: Sequence[Rule], frame: str) -> str:
        """The hash of last day number -> count of a unique metric's complete `7d` or `28d` frames.

        The 7d ones are its chart weeks. Counts of distinct ids do not add up across events, so it
        belongs to the metric's set of rules, in the slot of its first event.
        """
        base = f"{self.rule_base(rules[0])}:{'weeks' if frame == '7d' else 'kept' + frame}"
        if len(rules) == 1:
            return base
        names = json.dumps([self.rule_base(rule) for rule in rules]).encode()
        return f"{base}:{hashlib.blake2b(names, digest_size=8).hexdigest()}"

    def all_time(self, rule: Rule) -> str:
        return f"{self.rule_base(rule)}:all"

    def scratch(self, name: str) -> str:
        """A key of its own slot for short-lived work such as merging HLLs of several events."""
        return f"{self.prefix}{{scratch:{name}}}"

    def writer_marker(self, event: str, writer: str) -> str:
        """The last batch number of `writer` applied to `event`'s keys, in their slot (see idempotent_writes)."""
        return f"{self.prefix}{{{event}}}:w:{writer}"

    def internal(self, name: str) -> str:
        return f"{self.prefix}{{_internal}}:{name}"
