"""Signing in and out, and the signed-in user of each request as `g.user`."""

import functools
import logging

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from ..internal_events import current
from ..internal_events.delivery import REDIS_FAILURES
from .sign_in_throttle import SignInThrottle
from .store import sign_ins, users

log = logging.getLogger(__name__)
SIGN_IN_KEY = "sign_in"  # the session's sign-in token (see store/sign_ins.py)

bp = Blueprint("auth", __name__, url_prefix="/users")


@bp.before_app_request
def load_signed_in_user():
    token = session.get(SIGN_IN_KEY)
    g.user = users.by_sign_in(token) if isinstance(token, str) else None


def login_required(view):
    """Pages: signed-out visitors go to the sign-in page and come back afterwards."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def admin_required(view):
    """401 for signed-out callers, 403 for signed-in users who are not administrators."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            abort(401, "sign in as an administrator")
        if not g.user.is_admin:
            abort(403, "administrators only")
        return view(**kwargs)

    return wrapped


def _safe_next(target):
    """Only paths on this site: a crafted `next` must not send the user elsewhere after signing in.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash,
    so `/<tab>/evil.example` would become `//evil.example`: such characters are refused outright.
    """
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and not any(char == "\\" or char < " " or char == "\x7f" for char in target)
    ):
        return target
    return url_for("pages.home")


@bp.route("/sign_in", methods=("GET", "POST"))
def sign_in():
    if request.method == "GET":
        return render_template("sign_in.html", next=request.args.get("next", ""))
    username, password = request.form.get("username", ""), request.form.get("password", "")
    throttle = _throttle()
    wait = _guarded(lambda: throttle.retry_after(username, request.remote_addr))
    if wait:
        minutes = -(-wait // 60)
        flash(f"Too many failed sign-in attempts: try again in {minutes} minute{'s' * (minutes > 1)}.", "error")
        return render_template("sign_in.html", next=request.form.get("next", "")), 429, {"Retry-After": str(wait)}
    user = users.authenticate(username, password)
    if user is None:
        _guarded(lambda: throttle.failed(username, request.remote_addr))
        flash("Invalid username or password.", "error")
        return render_template(
            "sign_in.html", next=request.form.get("next", ""), username=request.form.get("username", "")[:255]
        ), 401
    _guarded(lambda: throttle.succeeded(username, request.remote_addr))
    session.clear()
    session[SIGN_IN_KEY] = sign_ins.start(user.id, int(current_app.permanent_session_lifetime.total_seconds()))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/sign_out")
def sign_out():
    token = session.get(SIGN_IN_KEY)
    if isinstance(token, str):
        sign_ins.end(token)  # a copy of the cookie kept elsewhere signs in no more
    session.clear()
    return redirect(url_for("pages.home"))


def _throttle():
    counters = current().counters
    return SignInThrottle(counters.redis, counters.keys.prefix)


def _guarded(call):
    """Without Redis, signing in still works, unthrottled (and says so in the log)."""
    try:
        return call()
    except REDIS_FAILURES as error:
        log.warning("Sign-in throttle unavailable, Redis cannot be reached: %s", error)
        return None
