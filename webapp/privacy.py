"""A person's privacy pages: their analytics setting, and the inventory of what is collected."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from .auth import login_required
from .internal_events import current
from .internal_events.inventory import inventory

bp = Blueprint("privacy", __name__)
CHOICES = {"on": False, "off": True}  # the form's answer -> opted out


@bp.route("/users/settings/privacy", methods=("GET", "POST"))
@login_required
def settings():
    opt_outs = current().privacy.opt_outs
    if request.method == "POST":
        choice = request.form.get("event_level_analytics")
        if choice not in CHOICES:
            abort(400, "event_level_analytics must be 'on' or 'off'")
        opt_outs.set(g.user.id, CHOICES[choice])
        flash("Event-level analytics about you are " + ("off." if CHOICES[choice] else "on."), "success")
        return redirect(url_for("privacy.settings"))
    return render_template("privacy_settings.html", opted_out=opt_outs.has_opted_out(g.user.id),
                           signals=current().privacy.request_signals())


@bp.get("/help/usage-data")
def data_inventory():
    return render_template("data_inventory.html", inventory=inventory(current().definitions))
