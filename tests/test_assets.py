"""Building and serving the front-end assets: hashed names, caching, the CSP hash, the size budget."""

import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time

import pytest
from webassets.exceptions import FilterError

from webapp import create_app
from webapp.assets.bundles import make_bundles
from webapp.assets.filters import EsbuildBundle
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
    app = create_app({**config, "WEBAPP_ENV": "production", "SECRET_KEY": secrets.token_hex(32)})
    assert not app.extensions["assets"].bundles["tracking"].env.auto_build
    html = app.test_client().get("/").get_data(as_text=True)
    assert re.search(r'<script src="/static/gen/tracking\.[0-9a-f]{8}\.js" defer>', html)


def test_build_command_prints_every_bundle_url(app):
    result = app.test_cli_runner().invoke(args=["assets", "build"])
    assert result.exit_code == 0, result.output
    urls = result.output.split()
    assert any(re.fullmatch(r"/static/gen/tracking\.[0-9a-f]{8}\.js", u) for u in urls)
    assert any(u.startswith("/static/gen/components/ProjectWidget.") for u in urls)


def bundle_of(tmp_path, modules, format="iife"):
    """What EsbuildBundle makes of `modules` (file name -> source), starting at entry.js."""
    for name, source in modules.items():
        (tmp_path / name).write_text(source)
    out = io.StringIO()
    EsbuildBundle(PROJECT_ROOT, format).open(out, str(tmp_path / "entry.js"))
    return out.getvalue()


def run_script(script):
    """What a classic script leaves on the global object, as node sees it."""
    program = "const vm = require('node:vm'); const g = {}; vm.runInNewContext(process.argv[1], g);" \
              "console.log(JSON.stringify(g))"
    return json.loads(subprocess.run(["node", "-e", program, script], capture_output=True, text=True,
                                     check=True).stdout)


def test_the_bundle_follows_imports_and_keeps_each_module_s_names_apart(tmp_path):
    """Default and renamed imports, and one name in two modules: what the old regex joiner refused."""
    script = bundle_of(tmp_path, {
        "entry.js": "import twice, { MAX as limit } from './b.js';\nconst MAX = 'entry';\n"
                    "globalThis.result = [twice(limit), MAX];\n",
        "b.js": "import { MAX as base } from './a.js';\nexport const MAX = base + 1;\n"
                "export default (n) => n * 2;\n",
        "a.js": "export const MAX = 20;\n",
    })
    assert run_script(script) == {"result": [42, "entry"]}


def test_the_script_bundle_leaks_no_module_name_into_the_page(tmp_path):
    script = bundle_of(tmp_path, {"entry.js": "const secret = 1;\nfunction helper() {}\n"
                                              "globalThis.visible = secret + (helper() ?? 1);\n"})
    assert run_script(script) == {"visible": 2}


def test_the_module_bundle_keeps_the_entry_s_exports(tmp_path):
    module = bundle_of(tmp_path, {"entry.js": "export { answer } from './a.js';\n",
                                  "a.js": "export const answer = 42;\n"}, format="esm")
    (tmp_path / "built.mjs").write_text(module)
    program = f"import('{(tmp_path / 'built.mjs').as_uri()}').then((m) => console.log(m.answer))"
    assert subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True).stdout == "42\n"


def test_an_import_that_cannot_be_resolved_fails_the_build_naming_it(tmp_path):
    with pytest.raises(FilterError, match=r"Could not resolve \"\./missing\.js\""):
        bundle_of(tmp_path, {"entry.js": "import { a } from './missing.js';\nconsole.log(a);\n"})


def test_a_change_to_an_imported_module_rebuilds_the_client_under_a_new_name(tmp_path):
    """Only the entries are listed in the bundles: the modules they import are watched too."""
    static = tmp_path / "static"
    shutil.copytree(PROJECT_ROOT / "static" / "js", static / "js")
    bundles = make_bundles(static, "/static", PROJECT_ROOT / "node_modules", auto_build=True)
    before = {name: bundles[name].urls()[0] for name in ("tracking", "tracking_module")}
    validation = static / "js/tracking/validation.js"
    validation.write_text(validation.read_text().replace("must be an object", "must be a plain object"))
    os.utime(validation, (time.time() + 5, time.time() + 5))
    for name, url in before.items():
        rebuilt = bundles[name].urls()[0]
        assert rebuilt != url
        assert "must be a plain object" in (static / rebuilt.removeprefix("/static/")).read_text()
