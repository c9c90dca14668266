"""The metrics dashboard for administrators: every event and metric, its weekly chart, and the latest events.

The page is rendered in full by the server; `static/js/dashboard.js` then polls
`data.json` and swaps in new values, charts and recent events without a reload.
"""

import hashlib

from flask import Blueprint, current_app, jsonify, render_template, request
from markupsafe import Markup

from . import dashboard_data
from .auth import admin_required, login_required
from .collector import stored_events
from .internal_events import current
from .internal_events.model import TIME_FRAMES
from .internal_events.privacy_status import privacy_status
from .internal_events.windows import today
from .store import users
from .weekly_chart import HEIGHT, WIDTH, bars

bp = Blueprint("dashboard", __name__, url_prefix="/admin/metrics")

RECENT_EVENTS = 50
POLL_SECONDS = 5


@bp.app_template_filter("number")
def number(value):
    """Numbers as the browser's String() writes them, so a polled value reads like the rendered one."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def chart_svg(row):
    return Markup(
        render_template(
            "dashboard/chart.svg", row=row, bars=bars(row.weeks), width=WIDTH, height=HEIGHT
        )
    )


def chart_version(row):
    """Changes exactly when the chart's series does, so the page redraws only charts that moved."""
    return hashlib.blake2b(repr(row.weeks).encode(), digest_size=6).hexdigest()


def _collector_on():
    return "collector" in current_app.blueprints


def _recent():
    if not _collector_on():
        return []
    privacy = current().privacy
    names = {privacy.pseudonym(user.id): user.username for user in users.everyone()}
    return [dashboard_data.recent_event(record, names) for record in stored_events("good", RECENT_EVENTS)]


def _snapshot():
    events, day = current(), today()
    metrics = dashboard_data.metric_rows(events, day)
    return day, metrics, dashboard_data.event_rows(events, day, metrics)


@bp.get("/")
@login_required
@admin_required
def index():
    day, metrics, event_rows = _snapshot()
    sender = current().snowplow
    return render_template(
        "dashboard/index.html",
        day=day,
        metrics=metrics,
        events=event_rows,
        recent=_recent(),
        recent_limit=RECENT_EVENTS,
        collector_on=_collector_on(),
        collector_url=sender.collector_url if sender else None,
        privacy=privacy_status(current()),
        query=request.args.get("q", ""),
        matches=dashboard_data.matches,
        frames=TIME_FRAMES,
        chart_svg=chart_svg,
        chart_version=chart_version,
        poll_seconds=current_app.config.get("DASHBOARD_POLL_SECONDS", POLL_SECONDS),
    )


@bp.get("/data.json")
@admin_required
def data():
    """Everything the page shows that can change, for its poller."""
    day, metrics, event_rows = _snapshot()
    return jsonify(
        day=day.isoformat(),
        metrics=[
            {
                "key_path": row.key_path,
                "values": row.values,
                "chart": chart_svg(row),
                "chart_version": chart_version(row),
            }
            for row in metrics
        ],
        events=[{"name": row.name, "values": row.values} for row in event_rows],
        recent=render_template("dashboard/_recent_rows.html", recent=_recent()),
    )
