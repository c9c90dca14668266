"""Loading GitLab-format definitions, and refusing invalid ones with precise messages."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from bench.synthetic_definitions import write_tree
from webapp import create_app
from webapp.demo.config import PROJECT_ROOT
from webapp.internal_events.definitions import DefinitionsError, load, load_definitions
from webapp.internal_events.service_ping import metric_values

from helpers import sign_in

GITLAB = Path(__file__).parent / "fixtures" / "gitlab"
# One file per pattern GitLab's own tree uses and its schemas accept (see each file's description).
PATTERNS = Path(__file__).parent / "fixtures" / "gitlab_patterns"


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
    assert {
        "counts.count_total_pull_package_weekly",
        "counts.count_total_pull_package_monthly",
        "counts.count_total_pull_package",
    } <= set(key_paths)
    assert key_paths["counts.count_total_pull_package_rubygems"].rules[0].filter == (
        ("label", "rubygems"),
        ("property", "guest"),
    )
    assert key_paths["counts.sum_registry_size_from_pull_package"].kind == "sum"


def test_every_pattern_gitlab_accepts_loads_with_zero_problems():
    loaded = load(PATTERNS)
    assert loaded.problems == ()
    definitions = loaded.definitions
    import_started = definitions.events["import_started"]
    assert import_started.identifiers == frozenset()  # `identifiers:` left empty
    # A camelCase property is declared; properties named like identifiers are dropped, as GitLab does.
    assert import_started.custom_properties == {"requestId", "import_size"}
    # Legacy Snowplow-only events may share an action; the first one is used.
    assert definitions.events["click_button"].path.endswith("old_snowplow_click_a.yml")
    assert not definitions.events["click_button"].internal
    reported = {m.key_path: m for m in definitions.metrics}
    # Removed metrics are not loaded, even when their event is gone; broken ones are.
    assert "counts.count_total_event_long_gone_weekly" not in reported
    assert reported["counts.count_total_review_requested_broken"].status == "broken"
    # unique: user.id on an event without the user identifier.
    assert reported["redis_hll_counters.count_distinct_user_id_from_review_requested_weekly"].rules[0].unique == "user"
    # A one-element list gets its suffix; a single frame keeps the key path as written.
    assert reported["redis_hll_counters.count_distinct_property_from_review_requested_weekly"].time_frame == "7d"
    assert reported["redis_hll_counters.count_distinct_label_from_import_started_monthly"].time_frame == "28d"
    assert reported["counts.count_total_import_started"].time_frame == "all"  # time_frame: none
    large = reported["counts.count_total_large_imports"].rules[0]
    assert (large.kind, large.filter) == ("total", (("import_size", 100), ("label", "github")))
    assert reported["sums.sum_value_from_code_suggestion_shown"].events == ("code_suggestion_shown", "review_requested")
    assert definitions.ignored_metrics == 1


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
        ("[7d, 28d]", "- name: pull_package\n  unique: [user]", "events[0].unique: ['user'] is not of type 'string'"),
        (
            "[7d, 28d, all]",
            "- name: pull_package\n  unique: user.id",
            "time_frame: unique metrics count over a fixed duration: use 7d and/or 28d, not 'all' or 'none'",
        ),
        (
            "[7d]",
            "- name: pull_package\n  unique: user.id\n- name: create_commit_note",
            "events: mixes total and unique entries",
        ),
        ("1w", "- name: pull_package", "time_frame: '1w' is not one of ['7d', '28d', 'all', 'none']"),
        (
            "[7d]",
            "- name: pull_package\n  operator: count",
            "events[0].operator: 'count' is not one of ['total', 'sum(value)']",
        ),
        ("[7d]", "- name: pull_package\n  filter:\n    label: 3", "events[0].filter.label: 3 is not of type 'string'"),
        (
            "[7d]",
            "- name: pull_package\n  unique: label\n  operator: total",
            "events[0].operator: `operator: total` with `unique` (GitLab's UniqueTotalsMetric, a count per value) is not"
            " supported",
        ),
    ],
)
def test_what_gitlab_rejects_is_refused_naming_file_field_and_rule(broken, time_frame, events, expected):
    write(broken, "metrics/counts_all/bad.yml", metric(time_frame=time_frame, events=events))
    problems = problems_of(broken)
    assert len(problems) == 1, problems
    assert problems[0].startswith("defs/metrics/counts_all/bad.yml: ")
    assert expected in problems[0]


def test_a_metric_s_introduced_by_url_is_a_string_as_in_gitlab(broken):
    write(broken, "metrics/counts_all/bad.yml", metric() + "introduced_by_url: null\n")
    assert problems_of(broken) == ["defs/metrics/counts_all/bad.yml: introduced_by_url: None is not of type 'string'"]


def test_rules_beyond_gitlab_are_warnings_not_problems(broken):
    write(
        broken,
        "events/user_only.yml",
        """\
        description: only a user
        action: user_only
        identifiers: [user]
        additional_properties:
          camelCase:
            description: valid in GitLab
        """,
    )
    write(
        broken,
        "metrics/counts_all/counted.yml",
        metric(events="- name: user_only\n  unique: project.id\n  filter:\n    colour: red"),
    )
    loaded = load(broken)
    assert loaded.problems == ()
    assert loaded.definitions.metric("counts.test_weekly").rules[0].unique == "project"
    warnings = [str(w) for w in loaded.warnings]
    assert (
        "defs/metrics/counts_all/counted.yml: events[0].unique: 'project.id' is not among the identifiers of"
        " event 'user_only' (defs/events/user_only.yml)" in warnings
    )
    assert any(
        "events[0].filter.colour: 'colour' is not an additional property of event 'user_only'" in w for w in warnings
    )
    assert (
        "defs/events/user_only.yml: additional_properties.camelCase: is not snake_case"
        " (lowercase words joined by _)" in warnings
    )


def test_duplicate_events_and_key_paths_are_refused(broken):
    write(broken, "events/zz_again.yml", (GITLAB / "events/pull_package.yml").read_text())
    write(
        broken,
        "metrics/counts_7d/again.yml",
        metric(
            key_path="redis_hll_counters.count_distinct_user_id_from_create_commit_note_weekly",
            time_frame="7d",
            events="- name: create_commit_note\n  unique: user.id",
        ),
    )
    problems = problems_of(broken)
    assert any(
        "events/zz_again.yml: action: event 'pull_package' is already defined in defs/events/pull_package.yml" in p
        for p in problems
    )
    assert any(
        "key_path: 'redis_hll_counters.count_distinct_user_id_from_create_commit_note_weekly'"
        " is already defined in defs/metrics/counts_7d/" in p
        for p in problems
    )


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
    write(definitions_dir, "events/broken.yml", "action: [oops\n")
    with pytest.raises(DefinitionsError) as refused:
        create_app(config)
    listed = str(refused.value)
    assert "2 problem(s)" in listed
    assert (
        "event 'nope' is not defined" in listed and "definitions/events/broken.yml: line 2: is not valid YAML" in listed
    )


def test_production_starts_without_the_broken_file_counts_the_rest_and_reports_it(config, definitions_dir):
    write(definitions_dir, "events/project_created.yml", "action: project_created\ndescription: [oops\n")
    app = create_app({**config, "WEBAPP_ENV": "production"})
    events = app.extensions["internal_events"]
    # The metrics of the broken event's file are lost; every other one counts.
    assert "project_created" not in events.definitions.events
    assert events.definitions.metric("counts.count_total_project_created") is None
    with app.app_context():
        assert events.track("project_starred", user_id=1, project_id=2, namespace_id=3)
        assert not events.track("project_created", user_id=1, project_id=2, namespace_id=3)
        assert metric_values(events)["counts.count_total_project_starred"] == 1

    status = app.test_cli_runner().invoke(args=["internal-events", "status"])
    assert status.exit_code == 1
    problems = json.loads(status.output)["definitions"]["problems"]
    assert any(p.startswith("definitions/events/project_created.yml: line 3: is not valid YAML") for p in problems)
    assert any(
        "count_total_project_created.yml: events[0].name: event 'project_created' is not loaded:"
        " definitions/events/project_created.yml has problems" in p
        for p in problems
    )


def test_the_dashboard_lists_the_files_production_skipped(make_demo, definitions_dir):
    write(definitions_dir, "metrics/counts_all/count_total_project_starred.yml", "key_path: [oops\n")
    app = make_demo(WEBAPP_ENV="production")
    page = sign_in(app.test_client(), "admin").get("/admin/metrics/")
    assert page.status_code == 200
    assert "Definition problems" in page.text
    assert "definitions/metrics/counts_all/count_total_project_starred.yml: line 2: is not valid YAML" in page.text
    assert "Events today" in page.text  # the rest is shown as usual
    dictionary = sign_in(app.test_client(), "admin").get("/admin/metrics/dictionary").text
    assert "counts.count_total_project_created" in dictionary and "count_total_project_starred<" not in dictionary


@pytest.mark.integration  # a GitLab-sized tree: seconds, not the unit layer's milliseconds
def test_a_gitlab_sized_tree_loads_with_zero_problems(tmp_path):
    """The benchmarks' synthetic tree: GitLab's size and mix of time frames, unique keys, filters and sums."""
    events, metrics = write_tree(tmp_path / "tree")
    assert (events, metrics) == (1400, 1800)
    loaded = load(tmp_path / "tree")
    assert loaded.problems == ()
    definitions = loaded.definitions
    kinds = {m.kind for m in definitions.metrics}
    uniques = {rule.unique for m in definitions.metrics for rule in m.rules if rule.unique}
    assert kinds == {"unique", "total", "sum"} and uniques >= {"user", "project", "namespace"}
    assert any(rule.filter for m in definitions.metrics for rule in m.rules)
    assert len(definitions.metrics) > 2000  # lists of time frames expand
