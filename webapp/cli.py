"""`flask --app webapp internal-events ...`: commands for instrumenting and inspecting the app."""

import json

import click
from flask.cli import AppGroup

from .internal_events import current
from .internal_events.service_ping import service_ping
from .internal_events.status import status
from .internal_events.delivery import REDIS_FAILURES

internal_events_cli = AppGroup("internal-events", help="Define, check and inspect internal events.")


@internal_events_cli.command("service-ping")
@click.option("--indent", default=2, show_default=True, help="JSON indentation (0 for one line).")
def service_ping_command(indent):
    """Print every active metric's current value as service ping JSON."""
    click.echo(json.dumps(service_ping(current()), indent=indent or None, sort_keys=True))


@internal_events_cli.command("status")
def status_command():
    """Print Redis reachability, the spool's counts and any definitions error; exit 1 when unhealthy."""
    report = status(current())
    click.echo(json.dumps(report, indent=2, sort_keys=True))
    if not report["healthy"]:
        raise SystemExit(1)


@internal_events_cli.command("replay-spool")
def replay_spool_command():
    """Write events spooled during a Redis outage into Redis now (the app also does it by itself)."""
    delivery = current().delivery
    try:
        replayed = delivery.replay()
    except REDIS_FAILURES as error:
        raise click.ClickException(f"Replay stopped, Redis failed: {error}")
    counts = delivery.spool.counts()
    click.echo(f"Replayed {replayed} event(s); {counts['pending']} pending, {counts['dropped']} dropped so far.")
    if counts["pending"]:
        click.echo("Events still pending are being replayed by another process, or arrived meanwhile.")
