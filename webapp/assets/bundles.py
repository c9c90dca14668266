"""What each built front-end file is made of. Built names carry a hash of their content."""

from pathlib import Path

from webassets import Bundle, Environment

from .filters import EsbuildBundle, EsbuildMinify, VueComponent

# The client's modules: the bundles start at an entry and follow its imports; a change to any rebuilds them.
TRACKING_SOURCES = "js/tracking/*.js"
VUE_RUNTIME = "vue/dist/vue.runtime.esm-browser.prod.js"
COMPONENTS_DIR = "js/components"
# Plain stylesheets and scripts, served under a content-hashed name like the bundles; a page asks
# `asset_url("css/app.css")` for the URL.
STATIC_FILES = ("css/app.css", "css/dashboard.css", "js/dashboard.js", "js/clipboard.js")
# The import map's prefix for our modules, as in `import { InternalEvents } from '~/tracking'`.
SOURCE_PREFIX = "~/"


def make_bundles(static_dir, static_url, node_modules, auto_build):
    """The app's bundles by name; `auto_build` rebuilds a bundle when its sources change."""
    static_dir, node_modules = Path(static_dir), Path(node_modules)
    env = Environment(
        directory=str(static_dir), url=static_url, auto_build=auto_build, versions="hash", url_expire=False
    )
    named = _bundles(static_dir, node_modules)
    env.register(named)
    return named


def _bundles(static_dir, node_modules):
    node_root = node_modules.parent
    minify = EsbuildMinify(node_root)
    named = {
        "tracking": Bundle("js/tracking/global.js", filters=EsbuildBundle(node_root, "iife"),
                           depends=TRACKING_SOURCES, output="gen/tracking.%(version)s.js"),
        "tracking_module": Bundle("js/tracking/index.js", filters=EsbuildBundle(node_root, "esm"),
                                  depends=TRACKING_SOURCES, output="gen/tracking.module.%(version)s.js"),
        "vue": Bundle(str(node_modules / VUE_RUNTIME), output="gen/vue.%(version)s.js"),
        "widgets": Bundle("js/widgets.js", filters=minify, output="gen/widgets.%(version)s.js"),
    }
    for source in STATIC_FILES:
        stem, extension = source.rsplit(".", 1)
        named[source] = Bundle(source, output=f"gen/{stem}.%(version)s.{extension}")
    for component in sorted((static_dir / COMPONENTS_DIR).glob("*.vue")):
        named[component_specifier(component.name)] = Bundle(
            f"{COMPONENTS_DIR}/{component.name}", filters=[VueComponent(node_root), minify],
            output=f"gen/components/{component.stem}.%(version)s.js",
        )
    return named


def component_specifier(filename):
    """How modules import a component: `import ProjectWidget from '~/components/ProjectWidget.vue'`."""
    return f"{SOURCE_PREFIX}components/{filename}"


def import_map(urls, static_url):
    """Bare names modules import, mapped to built files; other `~/` paths to our source modules."""
    imports = {"vue": urls["vue"], "~/tracking": urls["tracking_module"], SOURCE_PREFIX: f"{static_url}/js/"}
    imports.update({name: url for name, url in urls.items() if name.startswith(SOURCE_PREFIX)})
    return {"imports": imports}
