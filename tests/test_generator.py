"""`flask internal-events generate`: every option, every refusal, the interactive mode, and files that load."""

import pytest
import yaml

from webapp.cli import spread_list_options
from webapp.internal_events.definitions import load, load_definitions
from webapp.internal_events.generator import default_milestone
from webapp.internal_events.windows import today


@pytest.fixture
def generate(app):
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=["internal-events", "generate", *args], input=input)

    return run


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read(path):
    return yaml.safe_load(path.read_text())


SEEDS_EXAMPLE = ["--group", "project_management", "--event", "project_archived", "--unique", "user.id"]


@pytest.mark.parametrize("frames", [["7d", "28d"], ["7d,28d"], ["28d", "7d", "7d"]])
def test_seeds_example_writes_event_and_unique_metric(generate, definitions_dir, frames):
    result = generate("--time-frames", *frames, *SEEDS_EXAMPLE)
    assert result.exit_code == 0, result.output

    event_file = definitions_dir / "events" / "project_archived.yml"
    metric_file = definitions_dir / "metrics" / "counts_all" / "count_distinct_user_id_from_project_archived.yml"
    assert read(event_file) == {
        "description": "Project archived",
        "internal_events": True,
        "action": "project_archived",
        "identifiers": ["user", "namespace", "project"],
        "product_group": "project_management",
        "milestone": default_milestone(),
        "introduced_by_url": "TODO",
        "tiers": ["free", "premium", "ultimate"],
    }
    text = metric_file.read_text()
    assert text.startswith("---\nkey_path: redis_hll_counters.count_distinct_user_id_from_project_archived\n")
    assert "\ntime_frame: [7d, 28d]\n" in text
    assert "\nevents:\n- {name: project_archived, unique: user.id}\n" in text

    definitions = load_definitions(definitions_dir)
    weekly = definitions.metric("redis_hll_counters.count_distinct_user_id_from_project_archived_weekly")
    monthly = definitions.metric("redis_hll_counters.count_distinct_user_id_from_project_archived_monthly")
    assert (weekly.time_frame, monthly.time_frame) == ("7d", "28d")
    assert weekly.kind == "unique" and weekly.rules[0].unique == "user"
    assert "created definitions/events/project_archived.yml" in result.output
    assert "picks them up" in result.output


def test_without_unique_a_total_over_all_time_frames(generate, definitions_dir):
    result = generate("--event", "project_archived", "--group", "project_management")
    assert result.exit_code == 0, result.output
    document = read(definitions_dir / "metrics" / "counts_all" / "count_total_project_archived.yml")
    assert document["key_path"] == "counts.count_total_project_archived"
    assert document["time_frame"] == ["7d", "28d", "all"]
    assert document["events"] == [{"name": "project_archived"}]
    assert document["description"] == "Total count of project_archived"
    definitions = load_definitions(definitions_dir)
    assert {m.key_path for m in definitions.metrics if "project_archived" in m.events} == {
        "counts.count_total_project_archived_weekly",
        "counts.count_total_project_archived_monthly",
        "counts.count_total_project_archived",
    }


@pytest.mark.parametrize(
    "frame, folder, key_path",
    [
        ("7d", "counts_7d", "counts.count_total_project_archived_weekly"),
        ("28d", "counts_28d", "counts.count_total_project_archived_monthly"),
        ("all", "counts_all", "counts.count_total_project_archived"),
    ],
)
def test_one_time_frame_gets_its_suffix_in_the_key_path(generate, definitions_dir, frame, folder, key_path):
    result = generate("--event", "project_archived", "--group", "project_management", "--time-frames", frame)
    assert result.exit_code == 0, result.output
    document = read(definitions_dir / "metrics" / folder / f"{key_path.split('.')[1]}.yml")
    assert document["time_frame"] == frame and document["key_path"] == key_path
    assert load_definitions(definitions_dir).metric(key_path).time_frame == frame


def test_every_descriptive_option_lands_in_the_files(generate, definitions_dir):
    result = generate(
        "--event", "project_archived",
        "--group", "source_code",
        "--unique", "project.id",
        "--description", "A maintainer archived a project",
        "--metric-description", "Projects archived",
        "--category", "ProjectsController",
        "--identifiers", "user", "project",
        "--tiers", "premium,ultimate",
        "--milestone", "2.3",
        "--introduced-by-url", "https://example.com/merge_requests/1",
    )
    assert result.exit_code == 0, result.output
    event = read(definitions_dir / "events" / "project_archived.yml")
    metric = read(definitions_dir / "metrics" / "counts_all" / "count_distinct_project_id_from_project_archived.yml")
    assert event["description"] == "A maintainer archived a project"
    assert event["category"] == "ProjectsController"
    assert event["identifiers"] == ["user", "project"]
    assert event["tiers"] == metric["tiers"] == ["premium", "ultimate"]
    assert event["milestone"] == metric["milestone"] == "2.3"
    assert event["introduced_by_url"] == metric["introduced_by_url"] == "https://example.com/merge_requests/1"
    assert event["product_group"] == metric["product_group"] == "source_code"
    assert metric["description"] == "Projects archived"
    assert metric["events"] == [{"name": "project_archived", "unique": "project.id"}]
    load_definitions(definitions_dir)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--unique", "user.id", "--time-frames", "7d", "all"], "time frame 'all' cannot be used with --unique"),
        (["--unique", "user_id"], "'user_id' is not one of 'user.id', 'project.id', 'namespace.id', 'label'"),
        (["--unique", "label", "--operator", "sum(value)"], "cannot be combined with --unique label"),
        (["--filter", "label"], "filter 'label' must be property=value"),
        (["--filter", "value=big"], "filter value=big: the value property is a number"),
        (["--property", "requestId"], "property name 'requestId' must be lowercase words"),
        (["--property", "user"], "property name 'user' must be lowercase words joined by _ and not one of"),
        (["--time-frames", "1d"], "invalid time frame '1d': allowed are 7d, 28d, all"),
        (["--tiers", "free", "gold"], "unknown tier(s) gold"),
        (["--identifiers", "user", "organization"], "unknown identifier(s) organization"),
        (["--unique", "project.id", "--identifiers", "user"], "--unique project.id needs 'project' in --identifiers"),
        (["--group", "Project Management"], "product group 'Project Management' must be lowercase words"),
        (["--milestone", "soon"], "milestone: 'soon' does not match"),
    ],
)
def test_refused_options_change_nothing(generate, definitions_dir, args, message):
    before = snapshot(definitions_dir)
    result = generate("--event", "project_archived", "--group", "project_management", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert snapshot(definitions_dir) == before


@pytest.mark.parametrize(
    "name",
    ["ProjectArchived", "project-archived", "archived", "project__archived", "_project_archived",
     "1st_project_archived", "project_archived_", "x_" * 61],
)
def test_event_names_outside_the_naming_style_are_refused(generate, definitions_dir, name):
    before = snapshot(definitions_dir)
    result = generate("--event", name, "--group", "project_management")
    assert result.exit_code == 1
    assert f"event name '{name}'" in result.output
    assert snapshot(definitions_dir) == before


def test_a_new_event_needs_a_group(generate, definitions_dir):
    result = generate("--event", "project_archived")
    assert result.exit_code == 1
    assert "event 'project_archived' is new: its product group is missing (--group)" in result.output
    assert not (definitions_dir / "events" / "project_archived.yml").exists()


def test_without_a_terminal_a_missing_event_is_an_error_not_a_prompt(generate):
    result = generate("--group", "project_management")
    assert result.exit_code == 2
    assert "Missing option '--event'" in result.output


def test_an_existing_event_gets_only_the_new_metric(generate, definitions_dir):
    event_file = definitions_dir / "events" / "project_created.yml"
    before = event_file.read_bytes()
    result = generate("--event", "project_created", "--unique", "namespace.id", "--description", "ignored")
    assert result.exit_code == 0, result.output
    assert event_file.read_bytes() == before
    assert "already defined in definitions/events/project_created.yml: only the metric is added" in result.output
    metric = read(definitions_dir / "metrics" / "counts_all" / "count_distinct_namespace_id_from_project_created.yml")
    assert metric["product_group"] == "project_management"  # the event's own group
    assert load_definitions(definitions_dir).metric(
        "redis_hll_counters.count_distinct_namespace_id_from_project_created_monthly"
    )


def test_an_existing_event_without_the_unique_identifier_is_refused(generate, definitions_dir):
    before = snapshot(definitions_dir)
    result = generate("--event", "help_link_clicked", "--unique", "project.id")
    assert result.exit_code == 1
    assert "has no 'project' identifier" in result.output
    assert snapshot(definitions_dir) == before


def test_an_existing_metric_file_is_overwritten_only_with_force(generate, definitions_dir):
    metric_file = definitions_dir / "metrics" / "counts_all" / "count_distinct_user_id_from_project_created.yml"
    before = metric_file.read_bytes()
    args = ["--event", "project_created", "--unique", "user.id", "--metric-description", "Users creating projects"]

    refused = generate(*args)
    assert refused.exit_code == 1
    assert "count_distinct_user_id_from_project_created.yml already exists; pass --force" in refused.output
    assert metric_file.read_bytes() == before

    forced = generate(*args, "--force")
    assert forced.exit_code == 0, forced.output
    assert "overwrote definitions/metrics/counts_all/" in forced.output
    assert read(metric_file)["description"] == "Users creating projects"


def test_a_key_path_of_another_file_is_never_overwritten(generate, definitions_dir):
    before = snapshot(definitions_dir)
    result = generate("--event", "issue_created", "--time-frames", "7d", "--force")
    assert result.exit_code == 1
    assert (
        "key path 'counts.count_total_issue_created_weekly' already exists in"
        " definitions/metrics/counts_all/count_total_issue_created.yml"
    ) in result.output
    assert snapshot(definitions_dir) == before


def test_invalid_definitions_are_reported_before_anything_is_written(generate, definitions_dir):
    (definitions_dir / "events" / "broken.yml").write_text("action: broken\n")
    result = generate(*SEEDS_EXAMPLE)
    assert result.exit_code == 1
    assert "fix the definitions first" in result.output and "'description' is a required property" in result.output
    assert not (definitions_dir / "events" / "project_archived.yml").exists()


def test_the_running_app_picks_up_and_counts_the_new_event(app, generate):
    events = app.extensions["internal_events"]
    assert "project_archived" not in events.definitions.events
    assert generate(*SEEDS_EXAMPLE).exit_code == 0

    assert events.live_definitions.reload_if_changed()
    assert events.track("project_archived", user_id=7, project_id=3, namespace_id=2)
    assert events.track("project_archived", user_id=7, project_id=4, namespace_id=2)
    metric = events.definitions.metric("redis_hll_counters.count_distinct_user_id_from_project_archived_weekly")
    assert events.counters.value(metric, today()) == 1


# -- interactive -------------------------------------------------------------------------------


def test_interactive_mode_asks_for_everything_missing(generate, definitions_dir):
    answers = "\n".join(
        ["Bad-Name", "project_archived", "A maintainer archived a project", "project_management", "", "",
         "user_id", "project.id", "", "7d all", "28d", "y"]
    )
    result = generate("--interactive", input=answers + "\n")
    assert result.exit_code == 0, result.output
    # Allowed values are shown, and refused answers are asked again with the reason.
    assert "event name 'Bad-Name' is not in the naming style" in result.output
    assert "(user.id, project.id, namespace.id, label, property, value, none, sum(value))" in result.output
    assert "Error: 'user_id' is not one of" in result.output
    assert "Time frames [7d/28d]" in result.output
    assert "time frame 'all' cannot be used with --unique project.id" in result.output

    event = read(definitions_dir / "events" / "project_archived.yml")
    assert event["description"] == "A maintainer archived a project"
    assert event["product_group"] == "project_management"
    key_path = "redis_hll_counters.count_distinct_project_id_from_project_archived_monthly"
    metric = load_definitions(definitions_dir).metric(key_path)
    assert metric.time_frame == "28d" and metric.rules[0].unique == "project"
    assert metric.path == "definitions/metrics/counts_28d/count_distinct_project_id_from_project_archived_monthly.yml"


def test_interactive_mode_asks_only_for_what_is_missing(generate, definitions_dir):
    # The event exists: neither its description nor its group is asked.
    result = generate("--event", "project_created", "--interactive", input="\nnamespace.id\n\n\ny\n")
    assert result.exit_code == 0, result.output
    assert "Description" not in result.output and "Product group" not in result.output
    assert "only a metric will be added" in result.output
    assert load_definitions(definitions_dir).metric(
        "redis_hll_counters.count_distinct_namespace_id_from_project_created_weekly"
    )


def test_interactive_mode_covers_several_events_properties_filters_and_sums(generate, definitions_dir):
    answers = ["code_pushed", "", "source_code", "size=Bytes pushed", "code_merged, Bad-Name", "code_merged",
               "sum(value)", "colour", "label=main", "", "y"]
    result = generate("--interactive", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "event name 'Bad-Name' is not in the naming style" in result.output
    assert "filter 'colour' must be property=value" in result.output
    metric = load_definitions(definitions_dir).metric("sums.sum_value_from_code_pushed_and_code_merged_with_label_main")
    assert metric.events == ("code_pushed", "code_merged") and metric.kind == "sum"
    assert metric.rules[0].filter == (("label", "main"),)
    assert read(definitions_dir / "events" / "code_pushed.yml")["additional_properties"]["size"] == {
        "description": "Bytes pushed"}


def test_interactive_totals_offer_all_time_by_default(generate, definitions_dir):
    result = generate("--event", "project_archived", "--group", "project_management", "--description", "Archived",
                      "--interactive", input="\n\nnone\n\n\ny\n")
    assert result.exit_code == 0, result.output
    assert "Time frames [7d/28d/all]" in result.output
    metric = read(definitions_dir / "metrics" / "counts_all" / "count_total_project_archived.yml")
    assert metric["time_frame"] == ["7d", "28d", "all"]
    assert read(definitions_dir / "events" / "project_archived.yml")["description"] == "Archived"


def test_declining_the_preview_writes_nothing(generate, definitions_dir):
    before = snapshot(definitions_dir)
    result = generate(*SEEDS_EXAMPLE, "--interactive", input="\n\n\n\n\nn\n")
    assert result.exit_code == 1
    assert "# definitions/events/project_archived.yml" in result.output
    assert "Write these files?" in result.output
    assert snapshot(definitions_dir) == before


def test_list_options_take_several_words():
    assert spread_list_options(
        ["--time-frames", "7d", "28d", "--event", "x_y", "--tiers", "free", "premium", "--force"],
        ("--time-frames", "--tiers"),
    ) == ["--time-frames", "7d", "--time-frames", "28d", "--event", "x_y", "--tiers", "free", "--tiers", "premium",
          "--force"]


SHAPES = [
    # (options, key path, what the metric counts)
    (["--event", "code_pushed", "--event", "code_merged", "--unique", "user.id"],
     "redis_hll_counters.count_distinct_user_id_from_code_pushed_and_code_merged_weekly", ("unique", "user")),
    (["--event", "code_pushed", "--unique", "label", "--time-frames", "28d"],
     "redis_hll_counters.count_distinct_label_from_code_pushed_monthly", ("unique", "label")),
    (["--event", "code_pushed", "--unique", "property"],
     "redis_hll_counters.count_distinct_property_from_code_pushed_weekly", ("unique", "property")),
    (["--event", "code_pushed", "--unique", "value"],
     "redis_hll_counters.count_distinct_value_from_code_pushed_monthly", ("unique", "value")),
    (["--event", "code_pushed", "--filter", "label=main", "--filter", "files=3", "--property", "files=Files changed"],
     "counts.count_total_code_pushed_with_files_3_with_label_main", ("total", None)),
    (["--event", "code_pushed", "--event", "code_merged", "--operator", "sum(value)", "--time-frames", "all"],
     "sums.sum_value_from_code_pushed_and_code_merged", ("sum", None)),
    (["--event", "code_pushed", "--property", "language", "--key-name", "pushes"],
     "counts.count_total_pushes_weekly", ("total", None)),
]


@pytest.mark.parametrize("options, key_path, counts", SHAPES)
def test_each_metric_shape_loads_and_satisfies_gitlab_s_schema_rules(generate, definitions_dir, options, key_path,
                                                                      counts):
    result = generate(*options, "--group", "source_code")
    assert result.exit_code == 0, result.output
    loaded = load(definitions_dir)
    assert loaded.problems == ()
    # The generated files need nothing GitLab's schemas would ask for (introduced_by_url a string, ...).
    generated = [line.split(" ", 1)[1].split("/", 1)[1] for line in result.output.splitlines()
                 if line.startswith("created ")]
    assert generated and not [w for w in loaded.warnings if w.path.split("/", 1)[1] in generated]
    metric = loaded.definitions.metric(key_path)
    assert (metric.kind, metric.rules[0].unique) == counts


def test_custom_properties_filters_and_category_land_in_the_event(generate, definitions_dir):
    result = generate("--event", "code_pushed", "--group", "source_code", "--property", "language=Programming language",
                      "--filter", "label=main", "--category", "Projects::PushController")
    assert result.exit_code == 0, result.output
    event = read(definitions_dir / "events" / "code_pushed.yml")
    assert event["category"] == "Projects::PushController"  # Snowplow's category for calls that pass none
    assert event["additional_properties"] == {"language": {"description": "Programming language"},
                                              "label": {"description": "Label"}}
    metric = read(definitions_dir / "metrics" / "counts_all" / "count_total_code_pushed_with_label_main.yml")
    assert metric["events"] == [{"name": "code_pushed", "filter": {"label": "main"}}]
    assert load_definitions(definitions_dir).events["code_pushed"].category == "Projects::PushController"


@pytest.mark.parametrize("options, message", [
    (["--unique", "label"], "event 'project_created' (definitions/events/project_created.yml) has no additional"
                            " property label"),
    (["--filter", "colour=red"], "has no additional property colour"),
    (["--operator", "sum(value)"], "has no additional property value"),
])
def test_an_existing_event_must_declare_what_the_metric_reads(generate, definitions_dir, options, message):
    before = snapshot(definitions_dir)
    result = generate("--event", "project_created", *options)
    assert result.exit_code == 1
    assert message in result.output
    assert snapshot(definitions_dir) == before
