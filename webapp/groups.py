"""Group pages and inviting members."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from .auth import login_required
from .domain import ROLES, can_manage, grantable_roles
from .internal_events import track_event
from .store import namespaces, projects, users
from .tracking_context import set_tracking_context

bp = Blueprint("groups", __name__, url_prefix="/groups")


def _group_or_404(path):
    group = namespaces.visible_group(g.user, path)
    if group is None:
        abort(404, f"group {path[:100]!r} not found")
    return group


@bp.get("/<path>")
def show(path):
    """A group's page, at `/groups/<path>` and, as in GitLab, at `/<path>` (see `init_app`)."""
    group = _group_or_404(path)
    set_tracking_context(namespace=group)
    role = namespaces.role_of(g.user, group)
    return render_template(
        "group.html",
        group=group,
        projects=projects.visible_in(g.user, group),
        members=namespaces.members(group),
        can_invite=g.user is not None and can_manage(role, g.user),
        roles=grantable_roles(role, g.user) if g.user is not None else (),
    )


@bp.post("/<path>/members")
@login_required
def invite(path):
    group = _group_or_404(path)
    own_role = namespaces.role_of(g.user, group)
    if not can_manage(own_role, g.user):
        abort(403, "only maintainers and owners of the group invite members")
    username, role = request.form.get("username", "").strip(), request.form.get("role", "")
    invitee = users.by_username(username)
    if role in ROLES and role not in grantable_roles(own_role, g.user):
        abort(403, f"a {own_role} cannot invite an {role}: only owners and administrators give that role")
    if role not in ROLES:
        flash(f"Choose a role: {', '.join(ROLES)}.", "error")
    elif invitee is None:
        flash(f"There is no user called {username!r}.", "error")
    elif not namespaces.add_member(group, invitee, role):
        flash(f"{invitee.username} is already a member of {group.name}.", "error")
    else:
        track_event("group_member_invited", user=g.user, namespace=group, additional_properties={"property": role})
        flash(f"{invitee.username} joined {group.name} as {role}.", "success")
    return redirect(url_for("groups.show", path=group.path))


def init_app(app):
    """`/acme` answers like `/groups/acme`; fixed single-segment paths such as `/help` still win."""
    app.add_url_rule("/<path>", "group_at_root", show)
