"""Definitions at GitLab's scale: a synthetic tree of ~1,400 event and ~1,800 metric files
(bench/synthetic_definitions.py) beside the project's starter definitions, in one run.

- load: `load()` in this process, median of several alternating rounds, parsing every file and with the
  parsed files cached (webapp/internal_events/parse_cache.py);
- YAML: the tree parsed by PyYAML's pure-Python loader, its C loader, and ours (C parser, lean builder);
- request path: what a request pays to get the current definitions, beside one background check for edits;
- lint and service-ping: the `flask` commands end to end in a fresh process (start-up included), with the
  instance's cache of parsed files, and service-ping also without it (the first start after an upgrade),
  beside the code issue 12 (the first start) was filed on, unpacked from git.
"""

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import yaml

from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events.assembly import PARSE_CACHE_FILE
from webapp.internal_events.definitions import definition_files, load
from webapp.internal_events.live_definitions import LiveDefinitions, _fingerprint
from webapp.internal_events.yaml_reader import load_yaml

from .core import before_tree
from .synthetic_definitions import write_tree

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ROUNDS = 5
COMMAND_ROUNDS = 5
# The last commit before issue 12's changes (a flask command's watcher thread, the second walk at start).
BEFORE_FIRST_START = "983f6d682c3b2a2d06f222b113b05fdd30d40d80"
# Seconds, for the GitLab-sized tree: each figure named here against its target.
TARGETS = {
    "load: GitLab-sized, parsing every file": 1.0,
    "service-ping: GitLab-sized": 2.0,
    "service-ping: GitLab-sized, no cache": 2.0,
    "lint: GitLab-sized": 3.0,
}


def timed(function, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def alternate(contenders, rounds):
    """{name: [seconds]}: one round of each in turn, so a noisy neighbour slows all of them alike."""
    figures = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            figures[name] += timed(function, 1)
    return figures


def flask_command(folder, prefix, instance, *args, cached=True, code=PROJECT_ROOT):
    """The command in a fresh process, run with the webapp package in `code`; `cached=False` removes the
    instance's parsed files first."""
    env = {
        **os.environ,
        "WEBAPP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),  # production refuses weak keys
        "REDIS_URL": REDIS_URL,
        "INTERNAL_EVENTS_KEY_PREFIX": prefix,
        "INTERNAL_EVENTS_DEFINITIONS": str(folder),
        "WEBAPP_INSTANCE_PATH": str(instance),
    }
    env.pop("INTERNAL_EVENTS_SNOWPLOW_COLLECTOR_URL", None)

    def run():
        if not cached:
            (instance / PARSE_CACHE_FILE).unlink(missing_ok=True)
        subprocess.run(  # `python -m flask`: the working folder's webapp comes first
            [sys.executable, "-m", "flask", "--app", "webapp", "internal-events", *args],
            env=env,
            cwd=code,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=args[0] != "lint",
            timeout=120,
        )

    return run


def main():
    scratch = Path(tempfile.mkdtemp())
    tree, starter = scratch / "gitlab-sized", PROJECT_ROOT / "definitions"
    write_tree(tree)
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    try:
        report(tree, starter, measure(tree, starter, prefix, scratch))
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def measure(tree, starter, prefix, scratch):
    cache = scratch / "instance" / PARSE_CACHE_FILE
    load(tree, cache)
    figures = alternate(
        {
            "load: starter": lambda: load(starter),
            "load: GitLab-sized, parsing every file": lambda: load(tree),
            "load: GitLab-sized, parsed files cached": lambda: load(tree, cache),
        },
        ROUNDS,
    )
    texts = [Path(path).read_text() for path in definition_files(tree)]
    figures.update(
        alternate(
            {
                "YAML: PyYAML pure-Python loader": lambda: [yaml.load(text, Loader=yaml.SafeLoader) for text in texts],
                "YAML: PyYAML C loader": lambda: [yaml.load(text, Loader=yaml.CSafeLoader) for text in texts],
                "YAML: C parser + lean builder (ours)": lambda: [load_yaml(text) for text in texts],
            },
            3,
        )
    )
    live = LiveDefinitions(tree, check_interval=0, strict=False)
    calls = 100_000
    figures["request path: current(), per call"] = [
        t / calls for t in timed(lambda: [live.current() for _ in range(calls)], 3)
    ]
    figures["background check for edits (stat of every file)"] = timed(lambda: _fingerprint(tree), 3)
    instance = scratch / "instance"
    for command in ("service-ping", "lint"):
        contenders = {
            f"{command}: starter": flask_command(starter, prefix, instance, command),
            f"{command}: GitLab-sized": flask_command(tree, prefix, instance, command),
        }
        if command == "service-ping":
            contenders[f"{command}: GitLab-sized, no cache"] = flask_command(
                tree, prefix, instance, command, cached=False
            )
            before = before_tree(str(scratch / "before"), BEFORE_FIRST_START)
            if before:
                contenders[f"{command}: GitLab-sized, no cache, before issue 12"] = flask_command(
                    tree, prefix, scratch / "before-instance", command, cached=False, code=before
                )
        figures.update(alternate(contenders, COMMAND_ROUNDS))
    return figures


def report(tree, starter, figures):
    loaded = load(tree).definitions
    print(
        f"\n== Definitions at GitLab's scale: {len(definition_files(tree)):,} files ({len(loaded.events):,} events,"
        f" {len(loaded.metrics):,} reported metrics) beside the starter set ({len(definition_files(starter))}"
        f" files); medians =="
    )
    medians = {name: statistics.median(values) for name, values in figures.items()}
    for name, value in medians.items():
        shown = f"{value * 1e6:10.2f} us" if value < 0.001 else f"{value:10.3f} s "
        print(f"{name:55} {shown}")
    pure, ours = medians["YAML: PyYAML pure-Python loader"], medians["YAML: C parser + lean builder (ours)"]
    print(
        f"YAML: ours is {pure / ours:.1f}x the pure-Python loader, "
        f"{medians['YAML: PyYAML C loader'] / ours:.1f}x PyYAML's C loader"
    )
    before = medians.get("service-ping: GitLab-sized, no cache, before issue 12")
    if before:
        print(
            f"first start: {before / medians['service-ping: GitLab-sized, no cache']:.2f}x as fast as before issue 12"
        )
    for name, limit in TARGETS.items():
        verdict = "met" if medians[name] < limit else f"NOT met, by {medians[name] - limit:.2f} s"
        print(f"target: {name} {medians[name]:.2f} s < {limit:g} s ({verdict})")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: compare with the starter set's figures)")


if __name__ == "__main__":
    main()
