"""Namespaces (personal ones and groups) and who belongs to them."""

from ..db import get_db, remembered
from ..domain import MANAGER_ROLES, Namespace, User
from . import viewer_params

# A namespace is visible when public, to its members, and to admins.
VISIBLE = """(n.visibility = 'public' OR :admin OR EXISTS (
    SELECT 1 FROM memberships m WHERE m.namespace_id = n.id AND m.user_id = :viewer))"""


def namespace_from(row, prefix=""):
    return Namespace(
        id=row[prefix + "id"],
        path=row[prefix + "path"],
        name=row[prefix + "name"],
        kind=row[prefix + "kind"],
        visibility=row[prefix + "visibility"],
        plan=row[prefix + "plan"],
    )


def _one(sql, params):
    row = get_db().execute(sql, params).fetchone()
    return None if row is None else namespace_from(row)


@remembered
def visible_by_id(viewer, namespace_id):
    return _one(
        f"SELECT n.* FROM namespaces n WHERE n.id = :id AND {VISIBLE}", {"id": namespace_id, **viewer_params(viewer)}
    )


def visible_group(viewer, path):
    return _one(
        f"SELECT n.* FROM namespaces n WHERE n.path = :path AND n.kind = 'group' AND {VISIBLE}",
        {"path": path, **viewer_params(viewer)},
    )


def by_path(path):
    return _one("SELECT * FROM namespaces WHERE path = ?", (path,))


def create_group(path, name, visibility="public", plan="free"):
    db = get_db()
    with db:
        namespace_id = db.execute(
            "INSERT INTO namespaces (path, name, kind, visibility, plan) VALUES (?, ?, 'group', ?, ?)",
            (path, name, visibility, plan),
        ).lastrowid
    return _one("SELECT * FROM namespaces WHERE id = ?", (namespace_id,))


def add_member(namespace, user, role):
    """Add `user` with `role`; False when they already belong to the namespace."""
    db = get_db()
    with db:
        added = db.execute(
            "INSERT OR IGNORE INTO memberships (namespace_id, user_id, role) VALUES (?, ?, ?)",
            (namespace.id, user.id, role),
        ).rowcount
    return added == 1


def role_of(user, namespace):
    if user is None:
        return None
    row = (
        get_db()
        .execute("SELECT role FROM memberships WHERE namespace_id = ? AND user_id = ?", (namespace.id, user.id))
        .fetchone()
    )
    return row["role"] if row else None


def members(namespace):
    rows = get_db().execute(
        "SELECT u.*, m.role FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE m.namespace_id = ? ORDER BY u.username",
        (namespace.id,),
    )
    return [
        (User(id=r["id"], username=r["username"], name=r["name"], is_admin=bool(r["is_admin"])), r["role"])
        for r in rows
    ]


def where_user_can_create(user):
    """The namespaces `user` may create projects in: their own first, then groups they maintain."""
    rows = get_db().execute(
        "SELECT n.* FROM namespaces n JOIN memberships m ON m.namespace_id = n.id "
        f"WHERE m.user_id = ? AND m.role IN ({', '.join('?' * len(MANAGER_ROLES))}) "
        "ORDER BY n.kind = 'group', n.path",
        (user.id, *MANAGER_ROLES),
    )
    return [namespace_from(row) for row in rows]


def groups_of(user):
    rows = get_db().execute(
        "SELECT n.* FROM namespaces n JOIN memberships m ON m.namespace_id = n.id "
        "WHERE m.user_id = ? AND n.kind = 'group' ORDER BY n.path",
        (user.id,),
    )
    return [namespace_from(row) for row in rows]


def all_groups():
    return [
        namespace_from(row) for row in get_db().execute("SELECT * FROM namespaces WHERE kind = 'group' ORDER BY path")
    ]
