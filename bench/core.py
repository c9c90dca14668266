"""track_event and track_events throughput against a local Redis: this version beside the one issue 15 was filed on.

Each version runs in a process of its own (bench/track_rounds.py); the earlier
one is unpacked from git (`git archive`) into a temporary folder. Both get the
same calls, Snowplow off and on (sent to bench/snowplow_sink.py, which only
counts). Two baselines run in this process against the current code:

- ping: one PING per event, the floor any design with one round trip per event is bound by;
- naive: one Redis command per key, unpipelined, as a per-metric implementation would do;

and write-behind with its journal left out shows what durability costs.
Rounds alternate between every contender, so a noisy neighbour hurts all of
them alike; each figure is the median over the rounds, each ratio the median
of the rounds' ratios. After a Snowplow round its process posts what the round
queued, untimed: what Snowplow adds to the caller and what the courier spends
later are printed apart, with the process CPU time per event of both.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import requests

from webapp.demo.config import PROJECT_ROOT, from_environment
from webapp.internal_events.assembly import build
from webapp.internal_events.counters import UniqueWrite
from webapp.internal_events.windows import today

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# The last commit before the first change made for issue 15 (chart history and daily keys, 84c1bb4):
# the code the figures were measured on. BENCH_BEFORE names another commit to compare with.
BEFORE = os.environ.get("BENCH_BEFORE", "496406a4597a5e51947a19ec2f6be5db01261633")
EVENT = "project_viewed"  # four unique metrics and the event's own totals: 7 writes per event
ROUNDS = 7
EVENTS_PER_ROUND = 3000
NAIVE = "baseline: naive, one command per key"
PING = "baseline: one PING per event"
UNJOURNALED = "baseline: write-behind, journal left out (not durable)"
BEHIND, BATCHED = "track_event, write-behind", "track_events, batches of 100"
SNOWPLOW = " + Snowplow"
GOALS = (  # (contender, minimum events/s now, minimum times before): issues 11 and 15
    (BEHIND, 10_000, None),
    (BEHIND + SNOWPLOW, 10_000, None),
    (BATCHED, None, 2.0),
)
SNOWPLOW_GOAL_US = 30


class UnkeptJournal:
    """The journal's cost baseline: numbers events like the journal, keeps nothing."""

    def __init__(self):
        self._next = 1

    def accepted(self, day, events):
        first, self._next = self._next, self._next + len(events)
        return first

    def writing(self, writer, number, day, first, last):
        pass

    def done(self, last):
        pass

    def finish(self):
        pass


def calls(count, offset=0):
    return [
        {"event": EVENT, "user_id": offset + i, "namespace_id": 1, "project_id": (offset + i) % 500}
        for i in range(count)
    ]


def naive_track(events, call):
    """The baseline: the same writes as ours, one command and one round trip per key."""
    event = events.prepare(call["event"], **{k: v for k, v in call.items() if k != "event"})
    write_batch = events.counters.write_batch(events.definitions)
    write_batch.add(events.definitions.rules_for(event.name), event, today())
    client = events.counters.redis
    for writes in write_batch.slots.values():
        for (key, field), write in writes.items():
            if isinstance(write, UniqueWrite):
                client.pfadd(key, *write.elements)
                client.expire(key, write.ttl)
            elif write.op == "h":
                client.hincrby(key, field, write.amount)
            elif write.op == "f":
                client.hincrbyfloat(key, field, write.amount)
            elif write.op == "a":
                client.incrby(key, write.amount)
            else:
                client.incrbyfloat(key, write.amount)


def rate(function, count):
    start = time.perf_counter()
    function()
    return count / (time.perf_counter() - start)


def baselines(sync, unjournaled):
    """The in-process contenders: the two floors and write-behind without its journal."""

    def naive():
        for call in calls(EVENTS_PER_ROUND):
            naive_track(sync, call)

    def ping():
        for _ in range(EVENTS_PER_ROUND):
            sync.counters.redis.ping()

    def without_journal():
        for call in calls(EVENTS_PER_ROUND):
            unjournaled.track(call["event"], **{k: v for k, v in call.items() if k != "event"})
        assert unjournaled.flush(60)

    return {NAIVE: naive, PING: ping, UNJOURNALED: without_journal}


class Version:
    """One version of the core in its own process (bench/track_rounds.py), running a round per request."""

    def __init__(self, name, tree, env):
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "bench" / "track_rounds.py")],
            cwd=tree,
            env={**env, "PYTHONPATH": str(tree), "INTERNAL_EVENTS_DEFINITIONS": str(Path(tree) / "definitions")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.contenders = self._answer()

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} version's process exited with {self.process.wait()}")
        return json.loads(line)

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(120)


def before_tree(folder, commit=BEFORE):
    """The webapp package and definitions of `commit`, unpacked from git into `folder`; None outside a git checkout."""
    archive = subprocess.run(
        ["git", "archive", commit, "webapp", "definitions"], cwd=PROJECT_ROOT, capture_output=True, check=False
    )
    if archive.returncode:
        return None
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def measure(local, versions):
    """ROUNDS alternating rounds: ({contender: [events/s per round]}, {remote contender: [CPU figures per round]}),
    remote ones named "<contender> @<version>" (CPU figures: see track_rounds.round_of).

    A first round is not kept: it pays for connections, script loading and the day's first write (the daily pass).
    """
    figures, cpu = {}, {}
    for number in range(ROUNDS + 1):
        if number == 1:
            figures, cpu = {}, {}
        for name, function in local.items():
            figures.setdefault(name, []).append(rate(function, EVENTS_PER_ROUND))
        for contender in versions[-1].contenders:
            for version in versions:
                if contender in version.contenders:
                    answer = version.ask(contender)
                    figures.setdefault(f"{contender} @{version.name}", []).append(answer["rate"])
                    cpu.setdefault(f"{contender} @{version.name}", []).append(answer)
    return figures, cpu


def start_collector(env, port=None):
    """The app's own Snowplow collector, in its own process as in production."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "webapp", "run", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, wait_for(process, f"http://127.0.0.1:{port}", "/micro/all")


def start_sink():
    """bench/snowplow_sink.py on a free port: (process, URL)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "bench" / "snowplow_sink.py"), str(port)])
    return process, wait_for(process, f"http://127.0.0.1:{port}", "/count")


def wait_for(process, url, path):
    for _ in range(100):
        try:
            requests.get(f"{url}{path}", timeout=1)
            return url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"{url} did not start")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    settings = {
        "WEBAPP_ENV": "production",
        "INTERNAL_EVENTS_WRITE_BEHIND": "0",
        "REDIS_URL": REDIS_URL,
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "SECRET_KEY": "bench",
    }
    client = redis.Redis.from_url(REDIS_URL)
    sink, url = start_sink()
    versions = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            sync = build(from_environment(settings), folder)
            unjournaled = build(from_environment({**settings, "INTERNAL_EVENTS_WRITE_BEHIND": "1"}), folder)
            unjournaled.writer.journal = UnkeptJournal()
            env = {
                **os.environ,
                **settings,
                "BENCH_COLLECTOR_URL": url,
                "BENCH_EVENTS_PER_ROUND": str(EVENTS_PER_ROUND),
            }
            tree = before_tree(folder)
            if tree:
                versions.append(Version("before", tree, {**env, "INTERNAL_EVENTS_KEY_PREFIX": prefix + "before:"}))
            versions.append(Version("now", PROJECT_ROOT, {**env, "INTERNAL_EVENTS_KEY_PREFIX": prefix + "now:"}))
            figures, cpu = measure(baselines(sync, unjournaled), versions)
            flushed = all(version.ask("flush") for version in versions)
            names = [v.name for v in versions]
            report(figures, names, flushed, int(requests.get(f"{url}/count", timeout=5).text))
            report_snowplow_cpu(cpu, names)
            for tracker in (sync, unjournaled):
                tracker.close()
    finally:
        for version in versions:
            version.stop()
        clean_up(sink, client, prefix)


def clean_up(collector, client, prefix):
    """Stop the collector process (if started) and delete the run's Redis keys."""
    if collector:
        collector.terminate()
        collector.wait()
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def report_snowplow_cpu(cpu, names):
    """Snowplow's process CPU time per event: in the timed round, in posting its events afterwards, and in all."""
    print("Snowplow's CPU time per event (process CPU, medians of the rounds; the collector's own not counted):")
    print(f"{'':42} {'version':>8} {'in the round':>13} {'courier':>9} {'in all':>8}")
    for contender in (BEHIND, BATCHED):
        for name in names:
            on, off = cpu[f"{contender}{SNOWPLOW} @{name}"], cpu[f"{contender} @{name}"]
            during = statistics.median(o["cpu_us"] - f["cpu_us"] for o, f in zip(on, off))
            courier = statistics.median(o["courier_cpu_us"] for o in on)
            total = statistics.median(o["cpu_us"] + o["courier_cpu_us"] - f["cpu_us"] for o, f in zip(on, off))
            print(f"{contender:42} {name:>8} {during:10.1f} µs {courier:6.1f} µs {total:5.1f} µs")


def per_event_us(slower, faster):
    """Microseconds an event costs more in `slower` than in `faster` (events/s of the same rounds)."""
    return statistics.median(1e6 / s - 1e6 / f for s, f in zip(slower, faster))


def report(figures, names, flushed, received):
    medians = {name: statistics.median(values) for name, values in figures.items()}
    naive = figures[NAIVE]
    has_before = "before" in names
    print(
        f"\n== track_event throughput: local Redis, one process, {ROUNDS} alternating rounds of "
        f"{EVENTS_PER_ROUND} '{EVENT}' events (7 writes each); load average {os.getloadavg()[0]:.1f} =="
    )
    if has_before:
        print(f"before: {BEFORE[:7]}, in a process of its own")
    print(f"{'contender':58} {'events/s':>10} {'vs naive':>9} {'before':>10} {'now/before':>10}")
    for name in [n for n in figures if "@" not in n]:
        print(
            f"{name:58} {medians[name]:10,.0f} {statistics.median(v / b for v, b in zip(figures[name], naive)):8.1f}x"
        )
    for contender in dict.fromkeys(n.split(" @")[0] for n in figures if n.endswith("@now")):
        now = figures[f"{contender} @now"]
        before = figures.get(f"{contender} @before")
        line = f"{contender:58} {medians[contender + ' @now']:10,.0f} "
        line += f"{statistics.median(v / b for v, b in zip(now, naive)):8.1f}x"
        if before:
            line += f" {statistics.median(before):10,.0f} {statistics.median(n / b for n, b in zip(now, before)):9.2f}x"
        print(line)
    print(f"Snowplow: {received:,} events received by the sink, {'all flushed' if flushed else 'NOT all flushed'}")
    for contender in (BEHIND, BATCHED):
        for name in names:
            cost = per_event_us(figures[f"{contender}{SNOWPLOW} @{name}"], figures[f"{contender} @{name}"])
            goal = f" (goal <= {SNOWPLOW_GOAL_US} µs: {'met' if cost <= SNOWPLOW_GOAL_US else 'NOT met'})"
            print(
                f"Snowplow adds {cost:5.1f} µs an event to the caller of {contender}, {name}{goal if name == 'now' else ''}"
            )
    journal_cost = statistics.median(b / u for b, u in zip(figures[f"{BEHIND} @now"], figures[UNJOURNALED]))
    print(f"the journal: write-behind with it runs at {journal_cost:.0%} of write-behind without it")
    for contender, floor, times in GOALS:
        now = medians[f"{contender} @now"]
        if floor:
            print(f"goal {contender} >= {floor:,} events/s: {now:,.0f} ({'met' if now >= floor else 'NOT met'})")
        if times and has_before:
            ratio = statistics.median(
                n / b for n, b in zip(figures[f"{contender} @now"], figures[f"{contender} @before"])
            )
            print(f"goal {contender} >= {times:.1f}x before: {ratio:.2f}x ({'met' if ratio >= times else 'NOT met'})")


if __name__ == "__main__":
    main()
