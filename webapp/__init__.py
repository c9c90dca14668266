"""Internal Events for Flask: the tracking extension (`webapp.internal_events`) and the demo product using it.

`flask --app webapp` and gunicorn's `webapp:create_app()` start the demo (`webapp.demo`).
"""


def create_app(config=None):
    """The demo app; imported when asked for, so the extension never loads the demo."""
    from .demo import create_app as create_demo_app

    return create_demo_app(config)
