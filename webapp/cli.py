"""`flask --app webapp internal-events ...`: commands for instrumenting and inspecting the app."""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .forget_user import forget_user
from .internal_events import current, generator, iglu_export, usage_scan
from .internal_events.definitions import DefinitionsError, load_definitions
from .internal_events.delivery import REDIS_FAILURES
from .internal_events.instance_uuid import instance_uuid
from .internal_events.inventory import inventory
from .internal_events.service_ping import SERVICE_PING_OFF, service_ping
from .internal_events.status import status
from .internal_events.switches import NAMES as SWITCHES
from .internal_events.windows import DAILY_DAYS, today

internal_events_cli = AppGroup("internal-events", help="Define, check and inspect internal events.")


@internal_events_cli.command("service-ping")
@click.option("--indent", default=2, show_default=True, help="JSON indentation (0 for one line).")
def service_ping_command(indent):
    """Print every reported metric's value as service ping JSON, with the instance's uuid and version
    (unless the operator turned it off)."""
    if not current().privacy.switches.is_on("service_ping"):
        raise click.ClickException(SERVICE_PING_OFF)
    payload = service_ping(current(), instance_uuid(current_app.instance_path))
    click.echo(json.dumps(payload, indent=indent or None, sort_keys=True))


@internal_events_cli.command("switch")
@click.argument("name", type=click.Choice(SWITCHES))
@click.argument("state", type=click.Choice(["on", "off", "default"]))
def switch_command(name, state):
    """Turn Snowplow or the service ping on or off for every process now; `default` returns to the configuration."""
    switches = current().privacy.switches
    try:
        switches.set(name, state)
    except REDIS_FAILURES as error:
        raise click.ClickException(f"the switch is kept in Redis, which failed: {error}") from None
    shown = switches.states()[name]
    click.echo(
        f"{name} is {'on' if shown['on'] else 'off'} (set by {shown['set_by']}); "
        f"every process follows within {switches.check_seconds:g} s."
    )


@internal_events_cli.command("status")
def status_command():
    """Print Redis reachability, the spool's counts and any definitions error; exit 1 when unhealthy."""
    report = status(current())
    click.echo(json.dumps(report, indent=2, sort_keys=True))
    if not report["healthy"]:
        raise SystemExit(1)


@internal_events_cli.command("iglu-export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--vendor",
    help="Vendor of the schemas. Default: INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR, the one events are sent with.",
)
def iglu_export_command(folder, vendor):
    """Write the Snowplow context schemas as a static Iglu registry in FOLDER, for a pipeline to resolve."""
    for uri, path in iglu_export.export(
        folder, vendor or current_app.config.get("INTERNAL_EVENTS_SNOWPLOW_IGLU_VENDOR")
    ):
        click.echo(f"{uri} -> {path}")
    click.echo(f"Serve {folder} over HTTP and add it to your Iglu resolver as a static registry (see README).")


@internal_events_cli.command("inventory")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def inventory_command(as_json):
    """List what is collected, from the definitions: events, their properties, identifiers sent to Snowplow, metrics."""
    listed = inventory(_loaded(_definitions_folder()))
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    click.echo("Every Snowplow event carries: " + ", ".join(item["field"] for item in listed["snowplow_context"]))
    for event in listed["events"]:
        click.echo(f"\nevent {event['name']}: {event['description']}")
        for prop in event["properties"]:
            click.echo(f"  property {prop['name']} ({prop['sent_as']})")
        for identifier in event["identifiers_to_snowplow"]:
            click.echo(f"  to Snowplow: {identifier['field']} = {identifier['form']}")
    click.echo("\nmetrics (aggregate only):")
    for metric in listed["metrics"]:
        click.echo(f"  {metric['key_path']}: {metric['kept_as']}")


@internal_events_cli.command("forget-user")
@click.argument("user_id", type=click.IntRange(min=0))
def forget_user_command(user_id):
    """Remove a user's per-user data: collector-stored and outbox events, their id in the spool (HLLs cannot forget)."""
    forgotten = forget_user(current(), user_id)
    click.echo(
        f"Removed the user id from {forgotten['spooled_events']} spooled event(s) and "
        f"{forgotten['outbox_events']} event(s) waiting for Snowplow."
    )
    click.echo(f"Their pseudonym, to delete in any Snowplow warehouse: {forgotten['pseudonym']}")
    click.echo(
        f"Unique-user counts (HyperLogLogs) cannot forget one user: their daily keys expire after {DAILY_DAYS} days."
    )
    if forgotten["collector_error"]:
        raise click.ClickException(
            f"the collector listing was not searched, Redis failed: "
            f"{forgotten['collector_error']}; run this again once Redis answers"
        )
    click.echo(f"Removed {forgotten['collector_events']} collector event(s).")


@internal_events_cli.command("replay-spool")
def replay_spool_command():
    """Write events spooled during a Redis outage into Redis now (the app also does it by itself)."""
    delivery = current().delivery
    try:
        replayed = delivery.replay()
    except REDIS_FAILURES as error:
        raise click.ClickException(f"Replay stopped, Redis failed: {error}") from None
    counts = delivery.spool.counts()
    click.echo(f"Replayed {replayed} event(s); {counts['pending']} pending, {counts['dropped']} dropped so far.")
    if counts["pending"]:
        click.echo("Events still pending are being replayed by another process, or arrived meanwhile.")


@internal_events_cli.command("daily-pass")
def daily_pass_command():
    """Run today's daily pass now (kept frame counts, frame windows, upgrades), for cron; the app also runs it."""
    events = current()
    try:
        ran = events.daily_pass.run(events.definitions, today())
    except REDIS_FAILURES as error:
        raise click.ClickException(f"The daily pass stopped, Redis failed: {error}") from None
    click.echo("Daily pass done." if ran else "Today's daily pass was already run by another process.")


class ListOptionsCommand(click.Command):
    """Lets a list option take several words, `--time-frames 7d 28d`, as GitLab's generator does."""

    list_options = ("--time-frames", "--tiers", "--identifiers", "--event", "-e")

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, spread_list_options(args, self.list_options))


def spread_list_options(args, list_options):
    """["--tiers", "free", "premium"] -> ["--tiers", "free", "--tiers", "premium"]."""
    spread, current_option = [], None
    for arg in args:
        if arg.startswith("-"):
            current_option = arg if arg in list_options else None
        elif current_option and spread[-1] != current_option:
            spread.append(current_option)
        spread.append(arg)
    return spread


def _definitions_folder():
    return Path(current_app.config["INTERNAL_EVENTS_DEFINITIONS"])


def _loaded(folder):
    try:
        return load_definitions(folder)
    except DefinitionsError as error:
        raise click.ClickException(f"fix the definitions first.\n{error}") from None


def _checked(check):
    """A click prompt `value_proc` from a generator check: a refused answer is asked again."""

    def proc(value):
        try:
            return check(value)
        except generator.GeneratorError as error:
            raise click.BadParameter(str(error)) from None

    return proc


@internal_events_cli.command("generate", cls=ListOptionsCommand)
@click.option(
    "--event",
    "-e",
    "events",
    multiple=True,
    help="Event name, e.g. project_created; repeat it for a metric over several events.",
)
@click.option("--group", "-g", help="Product group owning the event, e.g. project_management.")
@click.option(
    "--unique",
    type=click.Choice(generator.UNIQUE_CHOICES),
    help="Count distinct users, projects, namespaces or label/property/value values. Without it: totals.",
)
@click.option("--operator", type=click.Choice(generator.OPERATOR_CHOICES), help="Sum the events' value instead.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="Count only events whose property has this value: label=rubygems (repeatable).",
)
@click.option(
    "--property",
    "properties",
    multiple=True,
    help="A custom additional property of a new event: name or name=description (repeatable).",
)
@click.option("--key-name", help="The key path's middle part instead of the event names (e.g. for filters).")
@click.option(
    "--time-frames",
    multiple=True,
    help="7d, 28d, all; spaces or commas between them. Default: 7d 28d with --unique, else 7d 28d all.",
)
@click.option("--description", help="What happened, for the event definition. Default: from the name.")
@click.option("--metric-description", help="Default: 'Count of unique users who triggered <event>' or similar.")
@click.option(
    "--category", help="Snowplow category of the new event's calls that pass none. Default: InternalEventTracking."
)
@click.option("--identifiers", multiple=True, help="Ids the event carries. Default: user namespace project.")
@click.option("--tiers", multiple=True, help="Default: free premium ultimate.")
@click.option("--milestone", help="Release introducing it. Default: this package's major.minor version.")
@click.option("--introduced-by-url", help="Link to the merge request. Default: TODO, as GitLab's generator.")
@click.option("--force", is_flag=True, help="Overwrite an existing metric file.")
@click.option(
    "--server-side-only",
    is_flag=True,
    default=None,
    help="A new event recorded by the server only: the usage-data API refuses it from browsers.",
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Ask for missing values. Default: ask when run on a terminal.",
)
def generate_command(interactive, force, events, **options):
    """Write event definitions (for new events) and a metric of them into the definitions folder."""
    folder = _definitions_folder()
    definitions = _loaded(folder)
    if interactive is None:
        interactive = sys.stdin.isatty()
    options.update(event=events[0] if events else None, more_events=events[1:])
    if interactive:
        options = _ask_missing(options, definitions)
    elif not options["event"]:
        raise click.UsageError("Missing option '--event' (run on a terminal, or with --interactive, to be asked).")
    request = generator.Request(
        **{name: value for name, value in options.items() if value not in (None, ())},
    )
    try:
        changes = generator.changes(request, folder, definitions, force=force)
        if interactive:
            _preview(changes)
            click.confirm("Write these files?", default=True, abort=True)
        generator.write(changes)
    except generator.GeneratorError as error:
        raise click.ClickException(str(error)) from None
    for note in changes.notes:
        click.echo(f"Note: {note}")
    for new in changes.files:
        click.echo(f"{'overwrote' if new.exists else 'created'} {changes.folder.name}/{new.path}")
    click.echo("Metrics: " + ", ".join(changes.key_paths))
    event = request.event.strip()
    click.echo(
        "The running app picks them up by itself (within 1 s in development, 10 s otherwise).\n"
        f'Track it from a template with data-event-tracking="{event}", from JavaScript with'
        f" InternalEvents.trackEvent('{event}'), or from Python with"
        f' track_event("{event}", user=..., project=...).'
    )


COUNT_CHOICES = (*generator.UNIQUE_CHOICES, "none", *generator.OPERATOR_CHOICES)


def _list_answer(check):
    """A prompt `value_proc` for a comma-separated answer checked by a generator check; a refusal asks again."""

    def proc(text):
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        _checked(check)(items)
        return items

    return proc


def _ask_missing(options, definitions):
    """Prompt for what the command line left out, showing what is allowed: the same choices as the options."""
    options = dict(options)
    if options["event"]:
        options["event"] = _checked(generator.check_event_name)(options["event"])
    else:
        options["event"] = click.prompt(
            "Event name (lowercase words joined by _, e.g. project_created)",
            value_proc=_checked(generator.check_event_name),
        )
    existing = definitions.events.get(options["event"])
    if existing:
        click.echo(f"Event '{existing.name}' is already defined in {existing.path}: only a metric will be added.")
    else:
        if not options["description"]:
            options["description"] = click.prompt(
                "Description of the event", default=generator.default_description(options["event"])
            )
        if not options["group"]:
            options["group"] = click.prompt(
                "Product group (e.g. project_management)", value_proc=_checked(generator.check_group)
            )
        if not options["properties"]:
            options["properties"] = click.prompt(
                "Custom additional properties (name or name=description, separated by commas; empty for none)",
                default="",
                show_default=False,
                value_proc=_list_answer(generator.check_properties),
            )
    if not options["more_events"]:
        options["more_events"] = click.prompt(
            "Other events the metric also counts (names separated by commas; empty for none)",
            default="",
            show_default=False,
            value_proc=_list_answer(lambda names: [generator.check_event_name(name) for name in names]),
        )
    if not options["unique"] and not options["operator"] and not options["time_frames"]:
        counted = click.prompt(
            "Count unique values of (none counts totals, sum(value) sums the value)",
            type=click.Choice(COUNT_CHOICES),
            default="user.id",
        )
        options["operator"] = generator.check_operator(counted if counted in generator.OPERATOR_CHOICES else None, None)
        options["unique"] = generator.check_unique(None if options["operator"] else counted)
    if not options["filters"]:
        options["filters"] = click.prompt(
            "Count only events where (property=value, separated by commas; empty for all events)",
            default="",
            show_default=False,
            value_proc=_list_answer(generator.check_filters),
        )
    if not options["time_frames"]:
        allowed = generator.default_time_frames(options["unique"])
        options["time_frames"] = click.prompt(
            f"Time frames [{'/'.join(allowed)}], several separated by spaces or commas",
            default=" ".join(allowed),
            value_proc=_checked(lambda text: generator.check_time_frames(text.split(), options["unique"])),
        )
    return options


def _preview(changes):
    for new in changes.files:
        click.echo(f"\n# {changes.folder.name}/{new.path}{' (overwritten)' if new.exists else ''}")
        click.echo(new.text, nl=False)
    click.echo()


@internal_events_cli.command("lint")
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Project to scan: its folders named as the app's templates, static files and package. Default: the app's.",
)
def lint_command(root):
    """Validate the definitions, then check the event names used in templates, JS and Python.

    An event used but not defined is an error (non-zero exit); an event or metric
    defined but never used is a warning.
    """
    live = current().live_definitions
    live.reload_if_changed()  # read again only when edited since the app started
    loaded = live.latest
    for level, problems in (("error", loaded.problems), ("warning", loaded.warnings)):
        for problem in problems:
            click.echo(f"{problem.path}: {level}: {problem.field + ': ' if problem.field else ''}{problem.message}")
    definitions = loaded.definitions
    app_root, folders = usage_scan.app_folders(current_app)
    usages = usage_scan.scan(root or app_root, folders)
    findings = usage_scan.check(usages, definitions, f"flask --app {current_app.import_name}")
    for finding in findings:
        click.echo(str(finding))
    errors = len(loaded.problems) + sum(finding.level == "error" for finding in findings)
    warnings = len(loaded.warnings) + sum(finding.level != "error" for finding in findings)
    click.echo(
        f"{len(definitions.events)} events, {len(definitions.metrics)} metrics, {len(usages)} usages in"
        f" {', '.join(folders)}: {errors} error(s), {warnings} warning(s)"
    )
    if errors:
        raise SystemExit(1)
