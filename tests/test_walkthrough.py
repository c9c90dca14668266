"""The README's walkthrough: a new event, defined with the generator, used in a template, seen moving."""

from webapp.config import from_environment


def test_development_shows_edited_templates_without_a_restart():
    """Step 4 edits a template while `make run` serves the app: the next request must show it."""
    assert from_environment({"WEBAPP_ENV": "development"})["TEMPLATES_AUTO_RELOAD"] is True
    assert from_environment({"WEBAPP_ENV": "production"})["TEMPLATES_AUTO_RELOAD"] is False
