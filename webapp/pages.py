"""The pages that belong to no project or group: home and help."""

from flask import Blueprint, g, render_template

from .internal_events import current
from .store import namespaces, projects

bp = Blueprint("pages", __name__)

# anchor, title, text: the help page's topics, linked from the pages they explain.
HELP_TOPICS = (
    ("projects", "Projects", "A project holds code and issues. Public projects are visible to every visitor; "
                             "private ones to members of their group or to their owner."),
    ("groups", "Groups", "Groups collect projects and people. Maintainers and owners invite members "
                         "and create projects in the group."),
    ("cloning", "Cloning", "Copy the SSH or HTTPS address from a project page and run `git clone` with it."),
    ("usage-data", "Usage data", "The app counts how its features are used (never what you write) and "
                                 "shows administrators the totals in the admin area."),
)


@bp.get("/")
def home():
    if g.user is None:
        return render_template("landing.html", public_projects=projects.public_ones())
    return render_template(
        "home.html",
        projects=projects.of_member(g.user),
        groups=namespaces.groups_of(g.user),
        public_projects=projects.public_ones(),
    )


@bp.get("/help")
def help_page():
    """The usage-data topic lists every defined event, so what is collected is always what is defined."""
    events = sorted(current().definitions.events.values(), key=lambda event: event.name)
    return render_template("help.html", topics=HELP_TOPICS, collected_events=events)
