"""Sign-ins and visibility answered from memory: every change holds from the next request on.

The API remembers who a sign-in token is and which projects and namespaces a
user may see while the database is unchanged (webapp/demo/db.py). Changes
come from the app itself (another request of the same thread) or from another
connection, as another worker or an administrator's script makes them.
"""

import sqlite3
from contextlib import closing

import pytest
from flask import g

from webapp.demo import db
from webapp.demo.store import namespaces, projects, users

from helpers import sign_in

API = "/api/v4/usage_data/track_event"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


def track(client, **ids):
    """The status of one event: a project's, a group's, or (without ids) one that names neither."""
    if "project_id" in ids:
        body = {"event": "project_viewed", **ids}
    elif "namespace_id" in ids:
        body = {"event": "group_viewed", **ids}
    else:
        body = {"event": "help_link_clicked", "additional_properties": {"label": "projects"}}
    return client.post(API, json=body, headers=SAME_ORIGIN).status_code


@pytest.fixture
def lab(demo):
    """(the secret lab's project id, its namespace id, bob's user id): bob is not a member."""
    with demo.app_context():
        alice, bob = users.by_username("alice"), users.by_username("bob")
        return (
            projects.visible_by_path(alice, "secret-lab", "prototype").id,
            namespaces.by_path("secret-lab").id,
            bob.id,
        )


def elsewhere(demo, sql, *params):
    """A change committed by another connection to the same file, as another worker or process makes it."""
    with closing(sqlite3.connect(demo.config["DATABASE"])) as connection, connection:
        connection.execute(sql, params)


def test_a_membership_added_or_removed_elsewhere_holds_at_the_next_request(demo, lab):
    project, group, bob_id = lab
    bob = sign_in(demo.test_client(), "bob")
    assert track(bob, project_id=project) == 404
    assert track(bob, project_id=project) == 404  # answered from memory now
    elsewhere(demo, "INSERT INTO memberships (namespace_id, user_id, role) VALUES (?, ?, 'guest')", group, bob_id)
    assert track(bob, project_id=project) == 200
    assert track(bob, namespace_id=group) == 200
    elsewhere(demo, "DELETE FROM memberships WHERE namespace_id = ? AND user_id = ?", group, bob_id)
    assert track(bob, project_id=project) == 404
    assert track(bob, namespace_id=group) == 404


def test_a_membership_the_app_itself_adds_holds_at_the_next_request(demo, lab):
    project, group, bob_id = lab
    bob = sign_in(demo.test_client(), "bob")
    assert track(bob, project_id=project) == 404
    with demo.app_context():  # the same thread, so the same connection as bob's requests
        namespaces.add_member(namespaces.by_path("secret-lab"), users.by_id(bob_id), "guest")
    assert track(bob, project_id=project) == 200


def test_a_sign_in_ended_elsewhere_or_a_deleted_user_is_refused_at_the_next_request(demo):
    bob, alice = sign_in(demo.test_client(), "bob"), sign_in(demo.test_client(), "alice")
    assert track(bob) == 200 and track(alice) == 200
    with demo.app_context():
        bob_id = users.by_username("bob").id
    elsewhere(demo, "DELETE FROM sign_ins WHERE user_id = ?", bob_id)
    assert track(bob) == 401
    assert track(alice) == 200
    # Foreign keys are off in a connection that does not turn them on: the user goes, their rows stay.
    elsewhere(demo, "DELETE FROM users WHERE username = 'alice'")
    assert track(alice) == 401


def test_what_a_request_has_not_committed_is_never_remembered(demo, lab):
    project, group, bob_id = lab
    with demo.app_context():
        bob = users.by_id(bob_id)
        connection = db.get_db()
        connection.execute(
            "INSERT INTO memberships (namespace_id, user_id, role) VALUES (?, ?, 'guest')", (group, bob_id)
        )
        assert projects.visible_by_id(bob, project) is not None
        connection.rollback()
        assert projects.visible_by_id(bob, project) is None
    with demo.app_context():
        assert projects.visible_by_id(bob, project) is None


def test_the_memory_is_bounded(demo, monkeypatch):
    monkeypatch.setattr(db, "MAX_ANSWERS", 10)
    with demo.app_context():
        alice = users.by_username("alice")
        website = projects.visible_by_path(alice, "acme", "website")
        for project_id in range(1, 40):
            projects.visible_by_id(alice, project_id)
            assert len(g.db_answers.answers) <= 10
        assert projects.visible_by_id(alice, website.id) == website
