"""Front-end assets: the tracking client and the Vue components, built by webassets.

Every page includes `templates/_tracking_scripts.html`, which asks `tracking_assets()`
for the URLs of the built files and for the import map. Built files carry a content
hash in their name and are served with a one-year cache. Outside production a bundle
is rebuilt when its sources change; production serves what `flask assets build` made.
"""

import json
import logging
import threading
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

import click
from flask import current_app, send_from_directory, url_for
from flask.cli import AppGroup
from markupsafe import Markup

log = logging.getLogger(__name__)

BUILT_DIR = "gen"
ONE_YEAR = 365 * 24 * 3600

assets_cli = AppGroup("assets", help="Build the front-end assets.")


class Assets:
    """The app's bundles, made when first asked for: webassets takes ~0.1 s to import, which commands that serve
    no page (`flask internal-events ...`) need not pay."""

    def __init__(self, app):
        self._where = (app.static_folder, app.static_url_path, Path(app.root_path).parent / "node_modules")
        self._auto_build = app.config["WEBAPP_ENV"] != "production"
        self.lock = threading.Lock()
        self.built = None

    @cached_property
    def bundles(self):
        from .bundles import make_bundles

        return make_bundles(*self._where, auto_build=self._auto_build)


def init_app(app):
    app.extensions["assets"] = Assets(app)
    app.add_template_global(tracking_assets)
    app.add_template_global(asset_url)
    app.add_url_rule(f"{app.static_url_path}/{BUILT_DIR}/<path:filename>", "built_asset", _send_built)
    app.cli.add_command(assets_cli)


def tracking_assets():
    """URLs and import map for the page, or None when the assets cannot be built.

    A page never fails because of tracking: the error is logged and the page
    renders without its scripts.
    """
    assets = current_app.extensions["assets"]
    try:
        return assets.built or _page_assets(assets)
    except Exception:
        log.exception("Front-end assets unavailable: run `flask --app webapp assets build`")
        return None


def asset_url(source):
    """The content-hashed URL of a static file such as "css/app.css"; its plain URL when assets cannot be built."""
    built = tracking_assets()
    return built.urls[source] if built else url_for("static", filename=source)


def _page_assets(assets):
    from .bundles import import_map

    with assets.lock:  # one build at a time when several requests find the sources changed
        urls = {name: bundle.urls()[0] for name, bundle in assets.bundles.items()}
    text = json.dumps(import_map(urls, current_app.static_url_path), sort_keys=True).replace("<", "\\u003c")
    page_assets = SimpleNamespace(script=urls["tracking"], widgets=urls["widgets"], import_map=Markup(text), urls=urls)
    if not assets.bundles["tracking"].env.auto_build:
        assets.built = page_assets  # production: the files do not change while the app runs
    return page_assets


def _send_built(filename):
    """Built files never change under their name, so browsers may keep them for a year."""
    response = send_from_directory(Path(current_app.static_folder) / BUILT_DIR, filename, max_age=ONE_YEAR)
    response.cache_control.immutable = True
    return response


@assets_cli.command("build")
@click.option("--force", is_flag=True, help="Rebuild bundles whose sources did not change too.")
def build_command(force):
    """Build every front-end bundle whose sources changed and print its URL."""
    for bundle in current_app.extensions["assets"].bundles.values():
        bundle.build(force=force or None)
        click.echo(bundle.urls()[0])
