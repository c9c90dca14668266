"""What an operator needs to see about tracking: can it reach Redis, what waits in the spool, are the definitions valid."""

from .delivery import REDIS_FAILURES
from .privacy_status import privacy_status


def status(tracker):
    """A JSON-ready report; `healthy` is False when something needs a person's attention."""
    live = tracker.live_definitions
    definitions_error = live.error
    spool = _safely(tracker.delivery.status)
    redis_error = _redis_error(tracker.counters.redis)
    report = {
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
    snowplow_ok = True
    if tracker.snowplow is not None:
        snowplow = report["snowplow"] = _safely(tracker.snowplow.status)
        # Every process's outbox figures: events lost for good, or an outbox nothing can wait in.
        snowplow_ok = (
            snowplow["error"] is None
            and not snowplow.get("dropped")
            and not snowplow.get("rejected")
            and not snowplow.get("unkept")
        )
    report["healthy"] = (
        redis_error is None
        and not live.problems
        and not any(spool.get(problem) for problem in ("dropped", "lost", "quarantined", "error"))
        and not report["journal"].get("error")
        and snowplow_ok
        and not report["privacy"]["snowplow_withheld_opt_outs_unreadable"]
    )
    return report


def _safely(report):
    """A part of the report, or the error that kept it from being read: `status` itself never fails."""
    try:
        return report()
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def _redis_error(client):
    try:
        client.ping()
    except REDIS_FAILURES as error:
        return f"{type(error).__name__}: {error}"
    return None
