"""Signing in and out, and the signed-in user of each request as `g.user`."""

import functools

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from .store import users

bp = Blueprint("auth", __name__, url_prefix="/users")


@bp.before_app_request
def load_signed_in_user():
    user_id = session.get("user_id")
    g.user = users.by_id(user_id) if isinstance(user_id, int) else None


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
    if (isinstance(target, str) and target.startswith("/") and not target.startswith("//")
            and not any(char == "\\" or char < " " or char == "\x7f" for char in target)):
        return target
    return url_for("pages.home")


@bp.route("/sign_in", methods=("GET", "POST"))
def sign_in():
    if request.method == "GET":
        return render_template("sign_in.html", next=request.args.get("next", ""))
    user = users.authenticate(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        flash("Invalid username or password.", "error")
        return render_template(
            "sign_in.html", next=request.form.get("next", ""), username=request.form.get("username", "")[:255]
        ), 401
    session.clear()
    session["user_id"] = user.id
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/sign_out")
def sign_out():
    session.clear()
    return redirect(url_for("pages.home"))
