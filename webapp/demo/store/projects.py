"""Projects, their stars and issues."""

import sqlite3
from datetime import date

from ..db import get_db, remembered
from ..domain import Issue, Project
from . import viewer_params
from .namespaces import namespace_from

# A project is visible when public, to members of its namespace, and to admins.
VISIBLE = """(p.visibility = 'public' OR :admin OR EXISTS (
    SELECT 1 FROM memberships m WHERE m.namespace_id = p.namespace_id AND m.user_id = :viewer))"""
SELECT = """SELECT p.*, n.id AS n_id, n.path AS n_path, n.name AS n_name, n.kind AS n_kind,
    n.visibility AS n_visibility, n.plan AS n_plan
    FROM projects p JOIN namespaces n ON n.id = p.namespace_id"""


class PathTaken(ValueError):
    pass


def _project(row):
    if row is None:
        return None
    return Project(
        id=row["id"],
        namespace=namespace_from(row, "n_"),
        path=row["path"],
        name=row["name"],
        description=row["description"],
        visibility=row["visibility"],
        created_at=row["created_at"],
    )


def _many(sql, params):
    return [_project(row) for row in get_db().execute(sql, params)]


@remembered
def visible_by_id(viewer, project_id):
    row = (
        get_db()
        .execute(f"{SELECT} WHERE p.id = :id AND {VISIBLE}", {"id": project_id, **viewer_params(viewer)})
        .fetchone()
    )
    return _project(row)


def visible_by_path(viewer, namespace_path, path):
    row = (
        get_db()
        .execute(
            f"{SELECT} WHERE n.path = :namespace AND p.path = :path AND {VISIBLE}",
            {"namespace": namespace_path, "path": path, **viewer_params(viewer)},
        )
        .fetchone()
    )
    return _project(row)


def of_member(user):
    """Projects in the namespaces `user` belongs to: the home page's "your projects"."""
    return _many(
        f"{SELECT} JOIN memberships m ON m.namespace_id = p.namespace_id WHERE m.user_id = ? ORDER BY n.path, p.path",
        (user.id,),
    )


def visible_in(viewer, namespace):
    return _many(
        f"{SELECT} WHERE p.namespace_id = :namespace AND {VISIBLE} ORDER BY p.path",
        {"namespace": namespace.id, **viewer_params(viewer)},
    )


def public_ones(limit=20):
    return _many(f"{SELECT} WHERE p.visibility = 'public' ORDER BY p.created_at DESC, p.id DESC LIMIT ?", (limit,))


def create(namespace, name, path, description="", visibility="private"):
    db = get_db()
    try:
        with db:
            project_id = db.execute(
                "INSERT INTO projects (namespace_id, path, name, description, visibility) VALUES (?, ?, ?, ?, ?)",
                (namespace.id, path, name, description, visibility),
            ).lastrowid
    except sqlite3.IntegrityError as error:
        raise PathTaken(f"{namespace.path}/{path} already exists") from error
    return _project(db.execute(f"{SELECT} WHERE p.id = ?", (project_id,)).fetchone())


def update(project, description, visibility):
    db = get_db()
    with db:
        db.execute(
            "UPDATE projects SET description = ?, visibility = ? WHERE id = ?", (description, visibility, project.id)
        )


def toggle_star(user, project):
    """Star or unstar; True when the project is starred afterwards."""
    db = get_db()
    with db:
        removed = db.execute("DELETE FROM stars WHERE user_id = ? AND project_id = ?", (user.id, project.id)).rowcount
        if not removed:
            db.execute("INSERT INTO stars (user_id, project_id) VALUES (?, ?)", (user.id, project.id))
    return not removed


def star_count(project):
    return get_db().execute("SELECT count(*) FROM stars WHERE project_id = ?", (project.id,)).fetchone()[0]


def has_starred(user, project):
    if user is None:
        return False
    return (
        get_db().execute("SELECT 1 FROM stars WHERE user_id = ? AND project_id = ?", (user.id, project.id)).fetchone()
        is not None
    )


def create_issue(project, author, title, created_at=None):
    """`created_at` (ISO 8601 UTC) backdates an issue, as the demo data does; default now."""
    db = get_db()
    with db:
        row = db.execute(
            "INSERT INTO issues (project_id, author_id, title, created_at) "
            "VALUES (?, ?, ?, coalesce(?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))) RETURNING id, created_at",
            (project.id, author.id, title, created_at),
        ).fetchone()
    return Issue(id=row["id"], project_id=project.id, author=author.username, title=title, created_at=row["created_at"])


def issues(project, limit=20):
    rows = get_db().execute(
        "SELECT i.*, u.username AS author FROM issues i JOIN users u ON u.id = i.author_id "
        "WHERE i.project_id = ? ORDER BY i.id DESC LIMIT ?",
        (project.id, limit),
    )
    return [
        Issue(id=r["id"], project_id=r["project_id"], author=r["author"], title=r["title"], created_at=r["created_at"])
        for r in rows
    ]


def issues_per_day(project, since):
    """{day: number of issues opened} from `since` on, for the activity chart."""
    rows = get_db().execute(
        "SELECT substr(created_at, 1, 10) AS day, count(*) AS opened FROM issues "
        "WHERE project_id = ? AND created_at >= ? GROUP BY day",
        (project.id, since.isoformat()),
    )
    return {date.fromisoformat(r["day"]): r["opened"] for r in rows}
