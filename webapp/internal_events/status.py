"""What an operator needs to see about tracking: can it reach Redis, what waits in the spool, are the definitions valid."""

from collections.abc import Callable, Mapping
from typing import Any

from .delivery import REDIS_FAILURES
from .privacy_status import privacy_status
from .redis_connection import Client
from .tracker import Tracker

# A JSON object: the spool's, journal's and Snowplow outbox's own reports nest inside it as they come.
Report = dict[str, Any]


def status(tracker: Tracker) -> Report:
    """A JSON-ready report; `problems` says what needs a person's attention, and `healthy` is False when anything does."""
    live = tracker.live_definitions
    definitions_error = live.error
    spool = _safely(tracker.delivery.status)
    redis_error = _redis_error(tracker.counters.redis)
    report: Report = {
        "redis": {"reachable": redis_error is None, "error": redis_error},
        "spool": spool,
        "definitions": {
            "folder": str(live.folder),
            "error": str(definitions_error) if definitions_error else None,
            # Files left out (production starts without them) or a failed reload's list: every one, never a traceback.
            "problems": [str(problem) for problem in live.problems],
        },
        "journal": _safely(tracker.journal_status),
        "daily_pass": _safely(tracker.daily_pass.status),
        "tracking_errors_in_this_process": dict(tracker.errors),
        "privacy": privacy_status(tracker),
    }
    if tracker.snowplow is not None:
        # Every process's outbox figures: events lost for good, or an outbox nothing can wait in.
        report["snowplow"] = _safely(tracker.snowplow.status)
    report["problems"] = attention_needed(report)
    report["healthy"] = not report["problems"]
    return report


def attention_needed(report: Mapping[str, Any]) -> list[str]:
    """What in a `status` report needs a person's attention, in words (the CLI and the dashboard show them)."""
    found = []
    if report["redis"]["error"]:
        found.append(f"Redis cannot be reached: {report['redis']['error']}")
    if report["definitions"]["problems"]:
        found.append(
            f"{len(report['definitions']['problems'])} definition file(s) left out: their metrics are not counted"
        )
    spool = report["spool"]
    for reason, count in sorted((spool.get("lost") or {}).items()):
        found.append(f"{count} event(s) lost for good: {reason.replace('_', ' ')}")
    if spool.get("dropped"):
        found.append(f"{spool['dropped']} event(s) dropped: the spool was full")
    if spool.get("quarantined"):
        found.append(f"{spool['quarantined']} event(s) quarantined: Redis refused their batch (kept in the spool)")
    if spool.get("error"):
        found.append(f"The spool cannot be used: {spool['error']}")
    if report["journal"].get("error"):
        found.append(f"The journal cannot be written: {report['journal']['error']}")
    snowplow = report.get("snowplow") or {}
    if snowplow.get("error"):
        found.append(f"The Snowplow outbox cannot be read: {snowplow['error']}")
    for name, what in (
        ("dropped", "dropped from the Snowplow outbox"),
        ("rejected", "rejected by the Snowplow collector"),
        ("unkept", "never reached the Snowplow outbox"),
    ):
        if snowplow.get(name):
            found.append(f"{snowplow[name]} event(s) {what}")
    if report["privacy"]["snowplow_withheld_opt_outs_unreadable"]:
        withheld = report["privacy"]["snowplow_withheld_opt_outs_unreadable"]
        found.append(f"{withheld} event(s) withheld from Snowplow: the opt-outs could not be read")
    return found


def _safely(report: Callable[[], Report]) -> Report:
    """A part of the report, or the error that kept it from being read: `status` itself never fails."""
    try:
        return report()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def _redis_error(client: Client) -> str | None:
    try:
        client.ping()
    except REDIS_FAILURES as error:
        return f"{type(error).__name__}: {error}"
    return None
