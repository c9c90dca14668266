"""The demo product's objects and rules, without I/O: who may do what, and which names are allowed.

Objects have an `id` (and a project its `namespace`), which is all `track_event` needs
to take them as `user=`, `namespace=` and `project=`.
"""

import re
from dataclasses import dataclass

VISIBILITIES = ("public", "private")
ROLES = ("guest", "developer", "maintainer", "owner")
MANAGER_ROLES = ("maintainer", "owner")
# First path segments the app's own routes use: a namespace with such a path would hide them.
RESERVED_PATHS = frozenset({"admin", "api", "groups", "help", "i", "micro", "projects", "static", "users",
                            "com.snowplowanalytics.snowplow"})
PATH_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{0,62}[a-z0-9])?$")
MAX_NAME_LENGTH = 100
MAX_TITLE_LENGTH = 255


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str
    is_admin: bool = False


@dataclass(frozen=True)
class Namespace:
    id: int
    path: str
    name: str
    kind: str  # "user" (a personal namespace) or "group"
    visibility: str
    plan: str = "free"

    @property
    def is_group(self):
        return self.kind == "group"


@dataclass(frozen=True)
class Project:
    id: int
    namespace: Namespace
    path: str
    name: str
    description: str
    visibility: str
    created_at: str = ""

    @property
    def namespace_id(self):
        return self.namespace.id

    @property
    def full_path(self):
        return f"{self.namespace.path}/{self.path}"


@dataclass(frozen=True)
class Issue:
    id: int
    project_id: int
    author: str
    title: str
    created_at: str


def grantable_roles(role, user):
    """The roles `user` (with `role` in a namespace) may give others there: never one above their own, as in GitLab."""
    if user.is_admin or role == "owner":
        return ROLES
    if role in MANAGER_ROLES:
        return ROLES[: ROLES.index(role) + 1]
    return ()


def can_manage(role, user):
    """Maintainers and owners change settings, create projects in and invite to a namespace; admins too."""
    return user.is_admin or role in MANAGER_ROLES


def path_from_name(name):
    """The URL path a new project gets from its name: `My API v2` -> `my-api-v2`."""
    return re.sub(r"[^a-z0-9_.]+", "-", name.strip().lower()).strip("-._")[:64].strip("-._")


def path_problem(path):
    if not PATH_PATTERN.match(path):
        return "use lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    if path in RESERVED_PATHS:
        return f"'{path}' is reserved by the app"
    return None


def name_problem(name, what="Name", limit=MAX_NAME_LENGTH):
    if not name.strip():
        return f"{what} is required"
    if len(name) > limit:
        return f"{what} must be at most {limit} characters"
    return None
