"""`flask --app webapp seed-demo`: demo users, groups, projects and issues to click around in.

Running it again changes nothing. Seeding tracks no events, so every count a
newcomer sees comes from their own clicks.
"""

from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from .store import namespaces, projects, users

# username, name, password, admin: the README lists these sign-ins.
USERS = (
    ("admin", "Ada Admin", "admin-demo", True),
    ("alice", "Alice Owner", "alice-demo", False),
    ("bob", "Bob Developer", "bob-demo", False),
)
# path, name, visibility, plan, {username: role}
GROUPS = (
    ("acme", "Acme Corp", "public", "premium", {"alice": "owner", "bob": "developer"}),
    ("secret-lab", "Secret Lab", "private", "ultimate", {"alice": "owner"}),
)
# namespace path, project path, name, description, visibility
PROJECTS = (
    ("acme", "website", "Website", "The public website of Acme Corp.", "public"),
    ("acme", "billing", "Billing", "Invoices and payments (members only).", "private"),
    ("secret-lab", "prototype", "Prototype", "Nobody outside the lab knows about this.", "private"),
    ("alice", "dotfiles", "Dotfiles", "Alice's shell and editor settings.", "public"),
    ("bob", "notes", "Notes", "Bob's private notes.", "private"),
)
# project, author, title, days ago: gives the activity chart something to show.
ISSUES = (
    ("acme/website", "alice", "Update the pricing page", 40),
    ("acme/website", "bob", "Broken link in the footer", 25),
    ("acme/website", "bob", "Add a dark theme", 9),
    ("acme/website", "alice", "Compress the hero image", 2),
    ("acme/billing", "alice", "Send invoices in the customer's language", 12),
)


def seed_demo(now=None):
    """Create whatever demo data is missing; returns how many things were created."""
    now = now or datetime.now(UTC)
    created = 0
    people = {}
    for username, name, password, is_admin in USERS:
        people[username] = users.by_username(username)
        if people[username] is None:
            people[username] = users.create(username, name, password, is_admin=is_admin)
            created += 1
    for path, name, visibility, plan, members in GROUPS:
        group = namespaces.by_path(path)
        if group is None:
            group = namespaces.create_group(path, name, visibility, plan)
            created += 1
        for username, role in members.items():
            created += namespaces.add_member(group, people[username], role)
    admin = people["admin"]
    for namespace_path, path, name, description, visibility in PROJECTS:
        if projects.visible_by_path(admin, namespace_path, path) is None:
            projects.create(namespaces.by_path(namespace_path), name, path, description, visibility)
            created += 1
            created += _seed_issues(f"{namespace_path}/{path}", admin, people, now)
    return created


def _seed_issues(full_path, admin, people, now):
    project = projects.visible_by_path(admin, *full_path.split("/"))
    count = 0
    for issue_project, author, title, days_ago in ISSUES:
        if issue_project == full_path:
            created_at = (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
            projects.create_issue(project, people[author], title, created_at=created_at)
            count += 1
    return count


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create the demo users, groups and projects (idempotent)."""
    if current_app.config["WEBAPP_ENV"] == "production":
        raise click.ClickException("seed-demo creates users with published passwords: not in production")
    created = seed_demo()
    click.echo(
        f"Demo data ready in {current_app.config['DATABASE']} ({created} new record(s)). Sign in as "
        + ", ".join(f"{u}/{p}" for u, _, p, _ in USERS)
        + "."
    )
