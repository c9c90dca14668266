"""The admin area: what the instance holds and what its metrics say."""

from flask import Blueprint, g, render_template

from .auth import admin_required, login_required
from ..internal_events import current, track_event
from ..internal_events.service_ping import metric_values
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
        metrics=events.definitions.metrics,
        values=metric_values(events),
    )
