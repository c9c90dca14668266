"""Redis memory per metric, ours beside GitLab's layout, written from the same events in a throwaway redis-server.

One event with a unique-users metric (7d, 28d) and a total (7d, 28d, all). Each
simulated day N users out of 3N view a page; our keys are written by the real
write path (plans, the write script, the daily pass that keeps chart weeks and builds the frame windows),
GitLab's as GitLab writes them: a HyperLogLog and a counter per ISO week
(6 weeks' expiry) and an all-time counter. Redis's clock does not travel with
the simulation, so keys whose expiry has passed are removed as Redis would have.
Sizes are MEMORY USAGE (key name, value and overhead).
"""

import random
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import redis
import time_machine

from tests.servers import RedisServer
from webapp.internal_events.counters import CounterStore
from webapp.internal_events.definitions import load_definitions
from webapp.internal_events.history import DailyPass
from webapp.internal_events.keys import KeySpace
from webapp.internal_events.model import Rule, TrackedEvent
from webapp.internal_events.windows import DAILY_DAYS

EVENT = "page_viewed"
FIRST_DAY = date(2026, 1, 5)  # a Monday
GITLAB_EXPIRY_DAYS = 42
SNAPSHOTS = (28, 85)
SCENARIOS = (1_000, 100_000)  # daily users
SPARSE_SETTINGS = (3000, 8000, 12000)  # hll-sparse-max-bytes; 3000 is Redis's default
SPARSE_USERS = 3_000  # daily keys near the default's switch to the dense encoding

DEFINITIONS = {
    f"events/{EVENT}.yml": f"""
        description: A page was viewed
        action: {EVENT}
        identifiers: [user]
        product_group: analytics
        milestone: '1.0'
        tiers: [free]
    """,
    "metrics/count_distinct_user_id_from_page_viewed.yml": f"""
        key_path: redis_hll_counters.count_distinct_user_id_from_{EVENT}
        description: Unique users who viewed a page
        product_group: analytics
        value_type: number
        status: active
        milestone: '1.0'
        time_frame: [7d, 28d]
        data_source: internal_events
        data_category: optional
        tiers: [free]
        events:
        - {{name: {EVENT}, unique: user.id}}
    """,
    "metrics/count_total_page_viewed.yml": f"""
        key_path: counts.count_total_{EVENT}
        description: Page views
        product_group: analytics
        value_type: number
        status: active
        milestone: '1.0'
        time_frame: [7d, 28d, all]
        data_source: internal_events
        data_category: optional
        tiers: [free]
        events:
        - {{name: {EVENT}}}
    """,
}


def write_definitions(folder):
    for relative, text in DEFINITIONS.items():
        path = Path(folder) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return load_definitions(folder)


def gitlab_week(day):
    return day.strftime("%G-%V")


class Simulation:
    """Days of the same events written in our layout and in GitLab's, side by side in one Redis."""

    def __init__(self, client, definitions, daily_users, seed=1):
        self.client = client
        self.definitions = definitions
        self.counters = CounterStore(client, KeySpace("ie:"))
        self.daily_pass = DailyPass(self.counters, lambda: definitions)
        self.daily_users = daily_users
        self.random = random.Random(seed)
        self.day = FIRST_DAY
        self.gitlab_last_write = {}  # weekly key -> last day written
        self.write_seconds = 0.0

    def run_day(self):
        users = self.random.sample(range(3 * self.daily_users), self.daily_users)
        with time_machine.travel(datetime(self.day.year, self.day.month, self.day.day, 12, tzinfo=UTC), tick=False):
            started = time.perf_counter()
            write_batch = self.counters.write_batch(self.definitions)
            rules = self.definitions.rules_for(EVENT)
            for user in users:
                write_batch.add(rules, TrackedEvent(EVENT, user_id=user), self.day)
            self.counters.write(write_batch, "bench", (self.day - FIRST_DAY).days + 1)
            self.write_seconds += time.perf_counter() - started
            self.daily_pass.run(self.definitions, self.day)
        self._write_gitlab(users)
        self.day += timedelta(days=1)

    def _write_gitlab(self, users):
        week = gitlab_week(self.day)
        unique, total = f"{{hll_counters}}_{EVENT}-user-{week}", f"{{event_counters}}_{EVENT}-{week}"
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(users), 1000):
            pipe.pfadd(unique, *users[start : start + 1000])
        pipe.expire(unique, GITLAB_EXPIRY_DAYS * 86400)
        pipe.incrby(total, len(users))
        pipe.expire(total, GITLAB_EXPIRY_DAYS * 86400)
        pipe.incrby(f"{{event_counters}}_{EVENT}", len(users))
        pipe.execute()
        self.gitlab_last_write[unique] = self.gitlab_last_write[total] = self.day

    def expire(self):
        """Remove the keys Redis would have expired by the end of the last simulated day."""
        today = self.day - timedelta(days=1)
        oldest_daily = today - timedelta(days=DAILY_DAYS - 1)
        rule = Rule(EVENT, unique="user")
        gone = [self.counters.keys.daily(rule, day) for day in self._days() if day < oldest_daily]
        gone += [
            self.counters.keys.window(rule, frame, day)
            for day in self._days()
            if day < today
            for frame in ("7d", "28d")
        ]
        gone += [key for key, last in self.gitlab_last_write.items() if (today - last).days >= GITLAB_EXPIRY_DAYS]
        if gone:
            self.client.delete(*gone)

    def _days(self):
        return [FIRST_DAY + timedelta(days=n) for n in range((self.day - FIRST_DAY).days)]

    def sizes(self):
        """Bytes per metric: ours, GitLab's, and the floor of 28 daily HyperLogLogs."""
        keys = self.counters.keys
        unique, total = Rule(EVENT, unique="user"), Rule(EVENT)
        today = self.day - timedelta(days=1)
        ours_unique = self._bytes(f"{keys.rule_base(unique)}:*")
        floor = sum(self._size(keys.daily(unique, today - timedelta(days=n))) for n in range(28))
        ours_total = self._size(keys.daily_totals(total)) + self._size(keys.all_time(total))
        gitlab_unique = self._bytes(f"{{hll_counters}}_{EVENT}-*")
        gitlab_total = self._bytes(f"{{event_counters}}_{EVENT}*")
        return {"unique": (ours_unique, gitlab_unique, floor), "total": (ours_total, gitlab_total, None)}

    def _bytes(self, pattern):
        return sum(self._size(key) for key in self.client.scan_iter(match=pattern, count=1000))

    def _size(self, key):
        return self.client.memory_usage(key, samples=0) or 0


def simulate(daily_users, folder, sparse_max_bytes=3000, snapshots=SNAPSHOTS):
    """{days: sizes} at each snapshot, and the seconds our write path spent."""
    server = RedisServer(
        Path(folder) / f"redis-{daily_users}-{sparse_max_bytes}", "--hll-sparse-max-bytes", str(sparse_max_bytes)
    ).start()
    client = redis.Redis(port=server.port)
    try:
        simulation = Simulation(client, write_definitions(Path(folder) / "definitions"), daily_users)
        figures = {}
        for days in range(1, max(snapshots) + 1):
            simulation.run_day()
            if days in snapshots:
                simulation.expire()
                figures[days] = simulation.sizes()
        count_seconds = _timed_counts(simulation)
        return figures, simulation.write_seconds, count_seconds
    finally:
        client.close()
        server.stop()


def _timed_counts(simulation, rounds=50):
    """Seconds per PFCOUNT over the newest 28 daily keys (the 28-day window)."""
    keys = [
        simulation.counters.keys.daily(Rule(EVENT, unique="user"), simulation.day - timedelta(days=n))
        for n in range(1, 29)
    ]
    started = time.perf_counter()
    for _ in range(rounds):
        simulation.client.pfcount(*keys)
    return (time.perf_counter() - started) / rounds


def kb(size):
    return f"{size / 1024:,.1f} KB"


def main():
    with tempfile.TemporaryDirectory() as folder:
        print("\n== Redis memory per metric at full retention: ours vs GitLab's layout, same events ==")
        print("(N daily users out of 3N; GitLab: weekly keys with 6 weeks' expiry, and it reports complete weeks only)")
        print(
            f"{'daily users':>11} {'days':>5} {'metric':8} {'ours':>11} {'GitLab':>11} {'ours/GitLab':>12} "
            f"{'28 daily HLLs':>14} {'ours/28 daily':>14}"
        )
        for daily_users in SCENARIOS:
            figures, _, _ = simulate(daily_users, folder)
            for days, sizes in figures.items():
                for metric, (ours, gitlab, floor) in sizes.items():
                    floor_columns = f"{kb(floor):>14} {ours / floor:13.2f}x" if floor else ""
                    print(
                        f"{daily_users:>11,} {days:>5} {metric:8} {kb(ours):>11} {kb(gitlab):>11} "
                        f"{ours / gitlab:11.2f}x {floor_columns}"
                    )
        print("goals: a unique metric <= 1.2x its 28 daily HLLs; totals <= 2x GitLab's layout")
        sparse_report(folder)


def sparse_report(folder):
    """What raising hll-sparse-max-bytes saves where daily keys turn dense, and what it costs."""
    print(f"\n== hll-sparse-max-bytes: {SPARSE_USERS:,} daily users, 28 days, our layout ==")
    print(f"{'setting':>8} {'unique metric':>14} {'write time':>11} {'28-day PFCOUNT':>15}")
    for setting in SPARSE_SETTINGS:
        figures, write_seconds, count_seconds = simulate(SPARSE_USERS, folder, setting, snapshots=(28,))
        ours = figures[28]["unique"][0]
        print(f"{setting:>8} {kb(ours):>14} {write_seconds:10.2f}s {count_seconds * 1e3:12.2f} ms")


if __name__ == "__main__":
    main()
