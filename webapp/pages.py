"""Server-rendered pages."""

from flask import Blueprint, render_template

from .internal_events import current
from .internal_events.service_ping import metric_values

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    events = current()
    return render_template("home.html", definitions=events.definitions, values=metric_values(events))
