"""Small fixes: a failed sign-in keeps the username, groups at /<path>, the help page lists what is collected."""

from markupsafe import escape

from helpers import submit_sign_in


def test_a_failed_sign_in_keeps_the_username(demo):
    response = submit_sign_in(demo.test_client(), "alice", "wrong password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert 'name="username" autocomplete="username" value="alice"' in html
    assert "Invalid username or password." in html


def test_a_group_answers_at_its_path_as_in_gitlab(client_for):
    bob = client_for("bob")
    at_root, under_groups = bob.get("/acme"), bob.get("/groups/acme")
    assert at_root.status_code == under_groups.status_code == 200
    assert "<h1>Acme" in at_root.get_data(as_text=True)
    assert bob.get("/secret-lab").status_code == 404  # bob cannot see it, at either address
    assert bob.get("/help").status_code == 200 and "<h1>Help</h1>" in bob.get("/help").get_data(as_text=True)


def test_the_help_page_lists_every_defined_event(demo):
    html = demo.test_client().get("/help").get_data(as_text=True)
    section = html[html.index('id="usage-data"') :]
    for name, event in demo.extensions["internal_events"].definitions.events.items():
        assert f"<code>{name}</code>" in section and escape(event.description) in section


def test_functions_a_request_adds_run_on_every_request_and_are_not_all_kept(app):
    """The app remembers which functions need no async wrapper; `after_this_request` adds a new one a request."""
    from flask import after_this_request

    from webapp.demo import SYNCED_FUNCTIONS

    @app.get("/-/marked")
    def marked():
        @after_this_request
        def mark(response):
            response.headers["X-Marked"] = "yes"
            return response

        return "ok"

    client = app.test_client()
    for _ in range(SYNCED_FUNCTIONS + 10):
        assert client.get("/-/marked").headers["X-Marked"] == "yes"
    assert len(app._synced) <= SYNCED_FUNCTIONS
