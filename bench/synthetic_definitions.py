"""A synthetic definitions tree the size and shape of GitLab's, for benchmarks and scale tests.

GitLab's tree (config/events, ee/config/events, config/metrics/counts_*) has about
1,400 event files, two thirds of them internal events, and 1,800 `internal_events`
metric files. The shares below are GitLab's, rounded: time frames, unique keys,
filters, sums, several events per metric, removed metrics, empty identifiers,
legacy Snowplow-only events sharing an action. Seeded, so every run writes the same tree.
"""

import random
from pathlib import Path

import yaml

EVENTS = 1400
METRICS = 1800
INTERNAL_SHARE = 0.63
IDENTIFIER_SETS = [(["project", "namespace", "user"], 40), (None, 15), ("missing", 12), (["user"], 14),
                   (["namespace", "user"], 11), (["project", "namespace"], 5), (["user", "namespace"], 3)]
TIME_FRAMES = [(["28d", "7d"], 33), ("28d", 23.5), ("7d", 22), ("all", 13), (["28d", "7d", "all"], 8),
               (["7d", "28d"], 0.5)]
UNIQUES = [("user.id", 48), (None, 38), ("project.id", 17), ("namespace.id", 5), ("property", 0.5),
           ("label", 0.4), ("value", 0.3)]
CUSTOM_PROPERTIES = ["variant", "import_type", "language", "ide_name", "model_name", "requestId"]
FILTER_SHARE = 0.35
SUM_SHARE = 0.003
MULTI_EVENT_SHARE = 0.016
REMOVED_SHARE = 0.057


def write_tree(folder, events=EVENTS, metrics=METRICS, seed=12):
    """Write `events/` and `metrics/` below `folder`; returns (event files, metric files) written."""
    rng = random.Random(seed)
    folder = Path(folder)
    internal = []
    for index in range(events):
        document = _event(rng, index)
        edition = "ee" if index % 4 == 0 else "ce"
        _dump(folder / "events" / edition / f"{document['action']}_{index}.yml", document)
        if document.get("internal_events"):
            internal.append(document)
    for index in range(metrics):
        document = _metric(rng, index, internal)
        frames = document["time_frame"]
        where = f"counts_{frames}" if isinstance(frames, str) else "counts_all"
        edition = "ee" if index % 3 == 0 else "ce"
        _dump(folder / "metrics" / edition / where / f"{index:05d}_{document['key_path'].split('.')[-1]}.yml",
              document)
    return events, metrics


def _pick(rng, weighted):
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def _event(rng, index):
    is_internal = rng.random() < INTERNAL_SHARE
    # Legacy Snowplow-only events reuse a few actions, as GitLab's `click_button` files do.
    action = f"event_{index:04d}_happened" if is_internal else rng.choice(
        ["click_button", "render", "create", f"legacy_{index:04d}"])
    document = {"description": f"Synthetic event {index}", "action": action}
    if is_internal:
        document["internal_events"] = True
    else:
        document["category"] = "projects:show"
    identifiers = _pick(rng, IDENTIFIER_SETS)
    if identifiers != "missing":
        document["identifiers"] = identifiers
    properties = {}
    for name, share in (("label", 0.45), ("property", 0.24), ("value", 0.08)):
        if rng.random() < share:
            properties[name] = {"description": f"The {name}"}
    if rng.random() < 0.1:
        properties[rng.choice(CUSTOM_PROPERTIES)] = {"description": "A custom property"}
    if properties:
        document["additional_properties"] = properties
    document.update(product_group="analytics_instrumentation",
                    milestone=rng.choice(["16.5", "17.2", "<13.9", None]),
                    introduced_by_url=f"https://gitlab.example/merge_requests/{index}",
                    tiers=["free", "premium", "ultimate"])
    return document


def _metric(rng, index, internal):
    frames = _pick(rng, TIME_FRAMES)
    unique = _pick(rng, UNIQUES) if frames != "all" and "all" not in frames else None
    summed = unique is None and rng.random() < SUM_SHARE
    count = rng.randint(2, 6) if rng.random() < MULTI_EVENT_SHARE else 1
    entries = []
    for event in rng.sample(internal, count):
        entry = {"name": event["action"]}
        if unique:
            entry["unique"] = unique
        if summed:
            entry["operator"] = "sum(value)"
        declared = [name for name in (event.get("additional_properties") or {}) if name in ("label", "property")]
        if declared and rng.random() < FILTER_SHARE:
            entry["filter"] = {declared[0]: f"value_{rng.randint(1, 20)}"}
        entries.append(entry)
    kind = "sum_value_from" if summed else (f"count_distinct_{unique.replace('.', '_')}_from" if unique else
                                            "count_total")
    section = "sums" if summed else ("redis_hll_counters" if unique else "counts")
    document = {
        "key_path": f"{section}.{kind}_metric_{index:05d}",
        "description": f"Synthetic metric {index}",
        "product_group": "analytics_instrumentation",
        "value_type": "number",
        "status": "removed" if rng.random() < REMOVED_SHARE else "active",
        "milestone": "17.0",
        "introduced_by_url": f"https://gitlab.example/merge_requests/{index}",
        "time_frame": frames,
        "data_source": "internal_events",
        "data_category": "optional",
        "performance_indicator_type": [],
        "tiers": ["free", "premium", "ultimate"],
        "events": entries,
    }
    if document["status"] == "removed":
        document.update(milestone_removed="17.5", removed_by_url="https://gitlab.example/merge_requests/1")
    return document


def _dump(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False, explicit_start=True))
