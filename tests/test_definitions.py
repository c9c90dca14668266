"""Loading GitLab-format definitions, and refusing invalid ones with precise messages."""

import shutil
import textwrap
from pathlib import Path

import pytest

from webapp import create_app
from webapp.config import PROJECT_ROOT
from webapp.internal_events.definitions import DefinitionsError, load_definitions

GITLAB = Path(__file__).parent / "fixtures" / "gitlab"




def test_project_starter_set_is_realistic():
    definitions = load_definitions(PROJECT_ROOT / "definitions")
    assert len(definitions.events) >= 8
    frames_by_event = {}
    for metric in definitions.metrics:
        for event in metric.events:
            frames_by_event.setdefault(event, set()).add(metric.time_frame)
    assert set(frames_by_event) == set(definitions.events), "every event has metrics"
    assert all({"7d", "28d"} <= frames for frames in frames_by_event.values())
    uniques = {rule.unique for m in definitions.metrics for rule in m.rules if rule.unique}
    assert {"user", "project", "namespace"} <= uniques
    assert any(m.time_frame == "all" and m.kind == "total" for m in definitions.metrics)


def test_real_gitlab_files_load_unchanged():
    definitions = load_definitions(GITLAB)
    assert set(definitions.events) == {"create_commit_note", "pull_package"}
    assert definitions.events["pull_package"].custom_properties == {"registry_size"}
    # Fields we do not use are kept, not rejected.
    assert definitions.events["create_commit_note"].raw["distributions"] == ["ce", "ee"]
    assert definitions.ignored_metrics == 1  # the database metric
    key_paths = {m.key_path: m for m in definitions.metrics}
    assert key_paths["redis_hll_counters.count_distinct_user_id_from_create_commit_note_weekly"].time_frame == "7d"
    # A list time frame expands with GitLab's suffixes.
    assert {"counts.count_total_pull_package_weekly", "counts.count_total_pull_package_monthly",
            "counts.count_total_pull_package"} <= set(key_paths)
    assert key_paths["counts.count_total_pull_package_rubygems"].rules[0].filter == (
        ("label", "rubygems"), ("property", "guest"))
    assert key_paths["counts.sum_registry_size_from_pull_package"].kind == "sum"


def write(folder, relative, text):
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def broken(tmp_path):
    """A copy of the GitLab fixtures that a test breaks on purpose."""
    folder = tmp_path / "defs"
    shutil.copytree(GITLAB, folder)
    return folder


def problems_of(folder):
    with pytest.raises(DefinitionsError) as caught:
        load_definitions(folder)
    return [str(p) for p in caught.value.problems]


METRIC = """\
key_path: {key_path}
description: test metric
value_type: number
status: active
time_frame: {time_frame}
data_source: internal_events
events:
{events}
"""


def metric(key_path="counts.test", time_frame="[7d, 28d]", events="- name: pull_package"):
    return METRIC.format(key_path=key_path, time_frame=time_frame, events=textwrap.indent(events, ""))


@pytest.mark.parametrize(
    "time_frame, events, expected",
    [
        ("[7d, 28d]", "- name: no_such_event", "events[0].name: event 'no_such_event' is not defined in events/"),
        ("[7d, 28d]", "- name: pull_package\n  unique: user_id",
         "events[0].unique: 'user_id' is not one of ['user.id', 'project.id', 'namespace.id', 'label', 'property', 'value']"),
        ("[7d, 28d, all]", "- name: pull_package\n  unique: user.id",
         "time_frame: 'all' is only allowed for metrics without `unique`"),
        ("[7d]", "- name: pull_package\n  unique: user.id\n- name: create_commit_note",
         "events: mixes total and unique entries"),
        ("1w", "- name: pull_package", "time_frame: '1w' is not one of ['7d', '28d', 'all', 'none']"),
        ("[7d]", "- name: pull_package\n  filter:\n    colour: red",
         "events[0].filter.colour: 'colour' is not an additional property of event 'pull_package'"),
    ],
)
def test_invalid_metric_is_refused_naming_file_field_and_rule(broken, time_frame, events, expected):
    write(broken, "metrics/counts_all/bad.yml", metric(time_frame=time_frame, events=events))
    problems = problems_of(broken)
    assert len(problems) == 1, problems
    assert problems[0].startswith("defs/metrics/counts_all/bad.yml: ")
    assert expected in problems[0]


def test_unique_identifier_must_be_an_identifier_of_the_event(broken):
    write(broken, "events/user_only.yml", """\
        description: only a user
        action: user_only
        identifiers: [user]
        """)
    write(broken, "metrics/counts_all/bad.yml",
          metric(events="- name: user_only\n  unique: project.id"))
    (problem,) = problems_of(broken)
    assert "events[0].unique: 'project.id' needs 'project' in the identifiers of event 'user_only'" in problem


def test_duplicate_events_and_key_paths_are_refused(broken):
    write(broken, "events/zz_again.yml", (GITLAB / "events/pull_package.yml").read_text())
    write(broken, "metrics/counts_7d/again.yml", metric(
        key_path="redis_hll_counters.count_distinct_user_id_from_create_commit_note_weekly",
        time_frame="7d", events="- name: create_commit_note\n  unique: user.id"))
    problems = problems_of(broken)
    assert any("events/zz_again.yml: action: event 'pull_package' is already defined in defs/events/pull_package.yml"
               in p for p in problems)
    assert any("key_path: 'redis_hll_counters.count_distinct_user_id_from_create_commit_note_weekly'"
               " is already defined in defs/metrics/counts_7d/" in p for p in problems)


def test_yaml_and_schema_errors_name_the_line_and_field(broken):
    write(broken, "events/broken_yaml.yml", "action: [unclosed\n")
    write(broken, "events/no_action.yml", "description: forgot the action\n")
    write(broken, "events/bad_name.yml", "description: x\naction: Bad-Name\n")
    problems = problems_of(broken)
    assert any(p.startswith("defs/events/broken_yaml.yml: line ") and "is not valid YAML" in p for p in problems)
    assert "defs/events/no_action.yml: 'action' is a required property" in problems
    assert any(p.startswith("defs/events/bad_name.yml: action: 'Bad-Name' does not match") for p in problems)


def test_every_problem_is_reported_at_once(broken):
    write(broken, "events/no_action.yml", "description: forgot the action\n")
    write(broken, "metrics/counts_all/bad.yml", metric(events="- name: nope"))
    assert len(problems_of(broken)) == 2


def test_app_refuses_to_start_on_invalid_definitions(config, definitions_dir):
    write(definitions_dir, "metrics/counts_all/bad.yml", metric(events="- name: nope"))
    with pytest.raises(DefinitionsError, match="event 'nope' is not defined"):
        create_app(config)
