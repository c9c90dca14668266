"""The demo's answers to Internal Events: who is signed in, what they may see, how users are named."""

from flask import g

from ..internal_events.extension import InternalEvents
from .store import namespaces, projects, users


def internal_events():
    """The extension, told about the demo's users, groups and projects exactly as any host app would."""
    extension = InternalEvents()
    extension.login_view = "auth.sign_in"
    extension.admin_view = "admin.index"
    extension.layout = "base.html"  # the extension's pages and error pages in the demo's own look
    extension.user_loader(lambda: g.get("user"))
    extension.project_loader(projects.visible_by_id)
    extension.namespace_loader(namespaces.visible_by_id)
    extension.user_names_loader(lambda: ((user.id, user.username) for user in users.everyone()))
    return extension
