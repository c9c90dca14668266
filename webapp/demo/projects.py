"""Project pages: creating, viewing, starring, issues and settings.

Actions done on the server track their event here with `track_event`; what
happens only in the browser (views, clone buttons) is tracked by the page's
`data-event-tracking` markup through the usage-data API.
"""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..internal_events import track_event
from ..tracking_context import set_tracking_context
from . import activity_chart
from .auth import login_required
from .domain import MAX_TITLE_LENGTH, VISIBILITIES, can_manage, name_problem, path_from_name, path_problem
from .store import namespaces
from .store import projects as store

bp = Blueprint("projects", __name__)


def _project_or_404(namespace_path, project_path):
    project = store.visible_by_path(g.user, namespace_path, project_path)
    if project is None:
        abort(404, f"project {namespace_path[:100]}/{project_path[:100]} not found")
    return project


@bp.route("/projects/new", methods=("GET", "POST"))
@login_required
def new():
    choices = namespaces.where_user_can_create(g.user)
    if request.method == "GET":
        return render_template("new_project.html", namespaces=choices, form={})
    form = request.form
    name = form.get("name", "").strip()
    namespace = next((n for n in choices if str(n.id) == form.get("namespace_id")), None)
    visibility = form.get("visibility", "")
    path = path_from_name(name)
    problem = (
        name_problem(name)
        or (None if namespace else "Choose a namespace you may create projects in")
        or (None if visibility in VISIBILITIES else "Choose public or private")
        or path_problem(path)
    )
    if problem is None:
        try:
            project = store.create(namespace, name, path, form.get("description", "").strip()[:1000], visibility)
        except store.PathTaken as taken:
            problem = f"{taken}: choose another name"
    if problem:
        flash(problem, "error")
        return render_template("new_project.html", namespaces=choices, form=form), 400
    track_event("project_created", user=g.user, project=project)
    flash(f"Project {project.full_path} created.", "success")
    return redirect(url_for("projects.show", namespace=project.namespace.path, project=project.path))


@bp.get("/<namespace>/<project>")
def show(namespace, project):
    project = _project_or_404(namespace, project)
    set_tracking_context(project=project)
    today = datetime.now(UTC).date()
    per_day = store.issues_per_day(project, activity_chart.first_day(today))
    return render_template(
        "project.html",
        project=project,
        issues=store.issues(project),
        stars=store.star_count(project),
        starred=store.has_starred(g.user, project),
        can_manage=g.user is not None and can_manage(namespaces.role_of(g.user, project.namespace), g.user),
        chart=activity_chart.weekly_bars(per_day, today),
        chart_size=(activity_chart.WIDTH, activity_chart.HEIGHT),
        chart_weeks=activity_chart.CHART_WEEKS,
    )


@bp.post("/<namespace>/<project>/-/star")
@login_required
def star(namespace, project):
    project = _project_or_404(namespace, project)
    if store.toggle_star(g.user, project):
        track_event("project_starred", user=g.user, project=project)
    return redirect(url_for("projects.show", namespace=namespace, project=project.path))


@bp.post("/<namespace>/<project>/-/issues")
@login_required
def create_issue(namespace, project):
    project = _project_or_404(namespace, project)
    title = request.form.get("title", "").strip()
    problem = name_problem(title, "Title", MAX_TITLE_LENGTH)
    if problem:
        flash(problem, "error")
    else:
        store.create_issue(project, g.user, title)
        track_event("issue_created", user=g.user, project=project, additional_properties={"label": "project_page"})
        flash("Issue created.", "success")
    return redirect(url_for("projects.show", namespace=namespace, project=project.path))


@bp.route("/<namespace>/<project>/-/settings", methods=("GET", "POST"))
@login_required
def settings(namespace, project):
    project = _project_or_404(namespace, project)
    if not can_manage(namespaces.role_of(g.user, project.namespace), g.user):
        abort(403, "only maintainers and owners change a project's settings")
    status = 200
    if request.method == "POST":
        visibility = request.form.get("visibility", "")
        if visibility in VISIBILITIES:
            store.update(project, request.form.get("description", "").strip()[:1000], visibility)
            flash("Settings saved.", "success")
            return redirect(url_for("projects.settings", namespace=namespace, project=project.path))
        flash("Choose public or private.", "error")
        status = 400
    set_tracking_context(project=project)
    return render_template("project_settings.html", project=project, visibilities=VISIBILITIES), status
