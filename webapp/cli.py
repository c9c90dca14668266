"""`flask --app webapp internal-events ...`: commands for instrumenting and inspecting the app."""

import json

import click
from flask.cli import AppGroup

from .internal_events import current
from .internal_events.service_ping import service_ping

internal_events_cli = AppGroup("internal-events", help="Define, check and inspect internal events.")


@internal_events_cli.command("service-ping")
@click.option("--indent", default=2, show_default=True, help="JSON indentation (0 for one line).")
def service_ping_command(indent):
    """Print every active metric's current value as service ping JSON."""
    click.echo(json.dumps(service_ping(current()), indent=indent or None, sort_keys=True))
