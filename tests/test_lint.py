"""`flask internal-events lint`: undefined events are errors with file and line, unused ones warnings."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import create_app
from webapp.internal_events import live_definitions
from webapp.config import PROJECT_ROOT


@pytest.fixture
def lint(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["internal-events", "lint", *args])

    return run


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


USES_EVERY_EVENT_BUT_ONE = """\
<button data-event-tracking="admin_area_viewed">a</button>
<section data-event-tracking-load="true" data-event-tracking="clone_button_clicked"></section>
<a data-event-tracking='dashboard_chart_viewed' href="#">c</a>
<button @click="trackEvent('group_member_invited')">d</button>
<div data-event-tracking = "group_viewed"></div>
<a data-event-tracking="help_link_clicked"
   data-event-label="docs">help</a>
"""


@pytest.fixture
def project(tmp_path):
    """A small project that uses every seed event except project_starred."""
    root = tmp_path / "project"
    write(root, "templates/page.html", USES_EVERY_EVENT_BUT_ONE)
    write(root, "static/js/app.js", "InternalEvents.trackEvent('issue_created');\ntrack_event(`project_viewed`);\n")
    write(
        root,
        "webapp/views.py",
        'from webapp.internal_events import track_event\n\n\ndef create():\n'
        '    track_event(\n        "project_created", user_id=1)\n'
        '    track_event("project_settings_viewed")\n',
    )
    return root


def test_a_project_using_only_defined_events_passes_with_warnings(lint, project):
    result = lint("--root", str(project))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "definitions/events/project_starred.yml: warning: event 'project_starred' is defined but never used" in lines
    assert (
        "definitions/metrics/counts_all/count_total_project_starred.yml: warning:"
        " metric 'counts.count_total_project_starred' counts event(s) never used: project_starred"
    ) in lines
    assert [line for line in lines if ": error: " in line] == []
    assert lines[-1] == "11 events, 45 metrics, 10 usages in templates, static, webapp: 0 error(s), 5 warning(s)"


def test_undefined_events_are_errors_with_file_and_line(lint, project):
    write(project, "templates/other.html", '<p>x</p>\n<button data-event-tracking="project_exploded">x</button>\n')
    write(project, "static/js/widgets/menu.js", "// menu\n\nInternalEvents.trackEvent('menu_opened');\n")
    write(project, "webapp/api.py", 'def f(track_event):\n    """Docs."""\n    track_event("api_called")\n')
    result = lint("--root", str(project))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert errors == [
        "templates/other.html:2: error: event 'project_exploded' is not defined; define it with"
        " `flask --app webapp internal-events generate --event project_exploded`",
        "static/js/widgets/menu.js:3: error: event 'menu_opened' is not defined; define it with"
        " `flask --app webapp internal-events generate --event menu_opened`",
        "webapp/api.py:3: error: event 'api_called' is not defined; define it with"
        " `flask --app webapp internal-events generate --event api_called`",
    ]
    assert "3 error(s)" in result.output


def test_names_in_comments_generated_bundles_and_template_expressions_are_not_usages(lint, project):
    write(project, "static/gen/tracking.min.js", "trackEvent('bundled_name')")
    write(project, "static/js/node_modules/lib/index.js", "trackEvent('vendored_name')")
    write(project, "static/js/vendor.min.js", "trackEvent('minified_name')")
    write(project, "templates/dynamic.html",
          '<a data-event-tracking="{{ event_name }}">x</a>\n<b data-event-tracking-load="true"></b>')
    write(project, "static/js/dynamic.js", "trackEvent(`${prefix}_clicked`); trackEvent(name);")
    write(project, "webapp/doc.py",
          '"""Call track_event("doc_example")."""\n# track_event("commented_out")\ntrack_event(f"{x}_y")\n')
    result = lint("--root", str(project))
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_a_misspelt_name_is_an_error_even_outside_the_naming_style(lint, project):
    write(project, "templates/typo.html", '<a data-event-tracking="Project-Viewed">x</a>')
    result = lint("--root", str(project))
    assert result.exit_code == 1
    assert "templates/typo.html:1: error: event 'Project-Viewed' is not defined\n" in result.output


def test_invalid_definitions_are_errors(lint, project, definitions_dir):
    (definitions_dir / "metrics" / "counts_all" / "count_total_issue_created.yml").write_text(
        "key_path: counts.count_total_issue_created\ndescription: x\nstatus: active\n"
        "data_source: internal_events\ntime_frame: [7d]\nevents:\n- {name: issue_deleted}\n"
    )
    (definitions_dir / "events" / "issue_created.yml").write_text(
        "description: camelCase is GitLab's business\naction: issue_created\nadditional_properties:\n"
        "  issueType:\n    description: the kind\n")
    result = lint("--root", str(project))
    assert result.exit_code == 1
    assert (
        "definitions/metrics/counts_all/count_total_issue_created.yml: error: events[0].name:"
        " event 'issue_deleted' is not defined in events/"
    ) in result.output
    assert "definitions/events/issue_created.yml: warning: additional_properties.issueType: is not snake_case" \
           " (lowercase words joined by _)" in result.output
    assert "definitions/events/issue_created.yml: warning: product_group: is missing; GitLab requires it" \
           in result.output


def test_lint_and_status_list_broken_definitions_in_development_without_a_traceback(tmp_path, redis_url, key_prefix):
    """The `flask` command a developer types, in a real process: the app starts for them, and only for them."""
    folder = tmp_path / "definitions"
    shutil.copytree(PROJECT_ROOT / "definitions", folder)
    (folder / "events" / "broken.yml").write_text("action: [oops\n")
    (folder / "metrics" / "counts_all" / "count_total_issue_created.yml").write_text(
        "key_path: counts.x\ndescription: x\nstatus: active\ndata_source: internal_events\ntime_frame: 9d\n"
        "events:\n- {name: issue_created}\n")
    env = {**os.environ, "WEBAPP_ENV": "development", "INTERNAL_EVENTS_DEFINITIONS": str(folder),
           "REDIS_URL": redis_url, "INTERNAL_EVENTS_KEY_PREFIX": key_prefix,
           "WEBAPP_INSTANCE_PATH": str(tmp_path / "instance"), "SNOWPLOW_COLLECTOR_URL": "http://127.0.0.1:9"}

    def flask(*args):
        return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "webapp", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    lint, status = flask("internal-events", "lint"), flask("internal-events", "status")
    for result in (lint, status):
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert "definitions/events/broken.yml: error: line 2: is not valid YAML" in lint.stdout
    assert "count_total_issue_created.yml: error: time_frame: '9d' is not one of" in lint.stdout
    assert "2 error(s)" in lint.stdout.splitlines()[-1]
    problems = json.loads(status.stdout)["definitions"]["problems"]
    assert len(problems) == 2 and any("broken.yml" in problem for problem in problems)


def test_lint_reads_the_definitions_once(app, project, monkeypatch):
    """Read when the app started; lint only checks whether a file changed since."""
    reads = []
    monkeypatch.setattr(live_definitions, "load", lambda folder: reads.append(folder))
    result = app.test_cli_runner().invoke(args=["internal-events", "lint", "--root", str(project)])
    assert result.exit_code == 0, result.output
    assert reads == []


def test_the_project_itself_passes(config):
    """What `make test` checks: every event name the app uses is defined."""
    app = create_app({**config, "INTERNAL_EVENTS_DEFINITIONS": str(PROJECT_ROOT / "definitions")})
    result = app.test_cli_runner().invoke(args=["internal-events", "lint"])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output
