"""webassets filters that hand our sources to npm tools: esbuild bundles and minifies, Vue compiles components."""

import subprocess
from pathlib import Path

from webassets.filter import Filter
from webassets.exceptions import FilterError

COMPILE_VUE = Path(__file__).with_name("compile_vue.mjs")
ESBUILD = "node_modules/.bin/esbuild"
# es2021 is the syntax our sources are written in: esbuild neither lowers it nor emits newer syntax.
MINIFY = ["--minify", "--target=es2021", "--log-level=warning"]


class NodeFilter(Filter):
    """A filter that pipes its input through a program from npm, run where node_modules is."""

    def __init__(self, node_root):
        super().__init__()
        self.node_root = Path(node_root)

    def run_tool(self, argv, text, source_path=None):
        try:
            return subprocess.run(
                list(map(str, argv)), input=text, capture_output=True, text=True, cwd=self.node_root, check=True
            ).stdout
        except FileNotFoundError as error:
            raise FilterError(f"{argv[0]} is needed to build the front-end assets: install Node.js 18 or newer "
                              "and run `npm ci`") from error
        except subprocess.CalledProcessError as error:
            raise FilterError(error.stderr.strip() or f"{self.name} failed on {source_path}") from error


class EsbuildBundle(NodeFilter):
    """Bundles an entry module with everything it imports into one minified file.

    The order of the modules comes from their imports. `format="iife"` makes a classic
    script that leaks no name into the page; `format="esm"` a module with the entry's exports.
    """

    name = "esbuild_bundle"

    def __init__(self, node_root, format):
        super().__init__(node_root)
        if format not in ("iife", "esm"):
            raise ValueError(f"format must be 'iife' or 'esm', got {format!r}")
        self.format = format

    def unique(self):
        return self.format

    def open(self, out, source_path, **kw):
        argv = [self.node_root / ESBUILD, source_path, "--bundle", f"--format={self.format}", *MINIFY]
        out.write(self.run_tool(argv, "", source_path))


class EsbuildMinify(NodeFilter):
    """Minifies one module as it is: its imports stay for the page's import map to resolve."""

    name = "esbuild_minify"

    def output(self, _in, out, **kw):
        out.write(self.run_tool([self.node_root / ESBUILD, "--loader=js", "--format=esm", *MINIFY], _in.read()))


class VueComponent(NodeFilter):
    """Compiles a Vue single-file component into an ES module (see compile_vue.mjs)."""

    name = "vue_component"

    def input(self, _in, out, source_path=None, **kw):
        out.write(self.run_tool(["node", COMPILE_VUE, source_path], _in.read(), source_path))
