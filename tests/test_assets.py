"""Building and serving the front-end assets: hashed names, caching, the CSP hash, the size budget."""

import io
import json
import os
import re
import subprocess
import sys

import pytest
from webassets.exceptions import FilterError

from webapp import create_app
from webapp.assets.filters import ModulesToScript, strip_module_syntax
from webapp.config import PROJECT_ROOT

IMPORT_MAP = re.compile(r'<script type="importmap" nonce="[^"]+">(.*?)</script>', re.S)


@pytest.fixture
def client(app):
    return app.test_client()


def test_core_bundle_is_within_its_size_budget():
    """The figure `make bench` prints, from the same script."""
    out = subprocess.run([sys.executable, "-m", "bench.bundle_size"], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True).stdout
    size = int(re.search(r"(\d+) bytes gzipped", out).group(1))
    assert 500 < size <= 2048, out


def test_page_loads_built_files_by_content_hash_and_they_are_cached_for_a_year(client):
    html = client.get("/").get_data(as_text=True)
    script = re.search(r'<script src="(/static/gen/tracking\.[0-9a-f]{8}\.js)" defer>', html).group(1)
    module = re.search(r'<script type="module" src="(/static/gen/widgets\.[0-9a-f]{8}\.js)">', html).group(1)
    for url in (script, module):
        response = client.get(url)
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.cache_control.max_age == 365 * 24 * 3600
        assert response.cache_control.immutable
    assert "window.InternalEvents" in client.get(script).get_data(as_text=True)


def test_import_map_names_the_client_vue_and_components(client):
    html = client.get("/").get_data(as_text=True)
    imports = json.loads(IMPORT_MAP.search(html).group(1))["imports"]
    assert re.fullmatch(r"/static/gen/tracking\.module\.[0-9a-f]{8}\.js", imports["~/tracking"])
    assert re.fullmatch(r"/static/gen/vue\.[0-9a-f]{8}\.js", imports["vue"])
    assert re.fullmatch(r"/static/gen/components/ProjectWidget\.[0-9a-f]{8}\.js",
                        imports["~/components/ProjectWidget.vue"])
    assert imports["~/"] == "/static/js/"
    for url in imports.values():
        if url.endswith(".js"):
            assert client.get(url).status_code == 200


def test_the_page_renders_without_scripts_when_the_client_cannot_be_built(app, client, caplog):
    bundle = app.extensions["assets"].bundles["tracking"]
    bundle.contents = (*bundle.contents, "js/tracking/missing.js")
    response = client.get("/")
    assert response.status_code == 200
    assert "<script src=" not in response.get_data(as_text=True)
    assert "Front-end assets unavailable" in caplog.text


def test_production_serves_the_built_files_without_rebuilding(config, tmp_path):
    subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "assets", "build"], cwd=PROJECT_ROOT,
                   env={**os.environ, "WEBAPP_ENV": "test", "WEBAPP_INSTANCE_PATH": str(tmp_path)},
                   check=True, capture_output=True)
    app = create_app({**config, "WEBAPP_ENV": "production"})
    assert not app.extensions["assets"].bundles["tracking"].env.auto_build
    html = app.test_client().get("/").get_data(as_text=True)
    assert re.search(r'<script src="/static/gen/tracking\.[0-9a-f]{8}\.js" defer>', html)


def test_build_command_prints_every_bundle_url(app):
    result = app.test_cli_runner().invoke(args=["assets", "build"])
    assert result.exit_code == 0, result.output
    urls = result.output.split()
    assert any(re.fullmatch(r"/static/gen/tracking\.[0-9a-f]{8}\.js", u) for u in urls)
    assert any(u.startswith("/static/gen/components/ProjectWidget.") for u in urls)


def test_modules_join_into_one_script_without_module_syntax():
    source = "import { a, b } from './x.js';\nexport const c = a + b;\nexport function d() {}\n"
    assert strip_module_syntax(source, "y.js", "script") == "const c = a + b;\nfunction d() {}\n"
    assert strip_module_syntax("export { c } from './y.js';\n", "i.js", "module") == "export { c };\n"
    assert strip_module_syntax("export { c } from './y.js';\n", "i.js", "script") == "\n"


@pytest.mark.parametrize(
    "source",
    ["import x from './x.js';", "import { a as b } from './x.js';", "export default 1;",
     "import { a } from 'vue';", "export * from './x.js';"],
)
def test_module_syntax_the_joiner_cannot_handle_is_refused(source):
    with pytest.raises(FilterError, match="cannot bundle"):
        strip_module_syntax(source + "\n", "bad.js", "script")


def test_a_name_declared_by_two_modules_is_refused():
    with pytest.raises(FilterError, match="more than one module: MAX"):
        ModulesToScript("script").output(io.StringIO("const MAX = 1;\nconst MAX = 2;\n"), io.StringIO())
