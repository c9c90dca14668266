"""The admin area: what the instance holds, and a summary of its metrics (the dashboard has the rest).

Only the service-ping export downloads every metric; this page reads one total.
"""

from flask import Blueprint, g, render_template

from .auth import admin_required, login_required
from .internal_events import current, track_event
from .dashboard_data import events_tracked
from .internal_events.windows import today
from .store import namespaces, totals, users

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@login_required
@admin_required
def index():
    track_event("admin_area_viewed", user=g.user)
    events = current()
    return render_template(
        "admin.html",
        totals=totals(),
        users=users.everyone(),
        groups=namespaces.all_groups(),
        event_count=len(events.definitions.events),
        metric_files=len({metric.path for metric in events.definitions.metrics}),
        key_paths=len(events.definitions.metrics),
        tracked_7d=events_tracked(events.counters, events.definitions, today()),
    )
