"""webassets filters for our own sources: ES modules joined into one file, Vue components compiled ahead of time."""

import re
import subprocess
from pathlib import Path

from webassets.filter import Filter
from webassets.exceptions import FilterError

NAMES = r"\{\s*\w+(?:\s*,\s*\w+)*\s*,?\s*\}"
IMPORT = re.compile(rf"^import {NAMES} from '\./[\w-]+\.js';\n", re.M)
REEXPORT = re.compile(rf"^export ({NAMES}) from '\./[\w-]+\.js';", re.M)
EXPORTED_DECLARATION = re.compile(r"^export (?=(?:async )?function|const |let |class )", re.M)
LEFT_OVER = re.compile(r"^(?:import|export)\b.*", re.M)
TOP_LEVEL_NAME = re.compile(r"^(?:async )?(?:function\*?|const|let|var|class) (\w+)", re.M)
COMPILE_VUE = Path(__file__).with_name("compile_vue.mjs")


class ModulesToScript(Filter):
    """Joins sibling ES modules, listed in dependency order, into one classic script or one module.

    Deliberately not a bundler: it accepts only named imports from sibling files,
    `export` in front of declarations and `export { ... } from` re-exports, and refuses
    anything else, and any name declared by two files, instead of guessing.
    `mode="script"` wraps everything in one function so nothing leaks into the page.
    """

    name = "es_modules"

    def __init__(self, mode):
        super().__init__()
        if mode not in ("script", "module"):
            raise ValueError(f"mode must be 'script' or 'module', got {mode!r}")
        self.mode = mode

    def unique(self):
        return self.mode

    def input(self, _in, out, source_path=None, **kw):
        out.write(strip_module_syntax(_in.read(), source_path, self.mode) + "\n;\n")

    def output(self, _in, out, **kw):
        text = _in.read()
        names = TOP_LEVEL_NAME.findall(text)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FilterError(f"names declared by more than one module: {', '.join(twice)}")
        out.write(f"(()=>{{\n{text}\n}})();\n" if self.mode == "script" else text)


def strip_module_syntax(text, source_path, mode):
    """One module's code without its imports and exports; re-exports stay in module mode."""
    text = EXPORTED_DECLARATION.sub("", IMPORT.sub("", text))
    unsupported = LEFT_OVER.search(REEXPORT.sub("", text))
    if unsupported:
        raise FilterError(f"{source_path}: cannot bundle {unsupported.group(0)!r}: use named imports "
                          "from sibling files and `export` in front of declarations")
    return REEXPORT.sub(r"export \1;" if mode == "module" else "", text)


class NodeFilter(Filter):
    """A filter that pipes its input through a Node.js program run where node_modules is."""

    def __init__(self, node_root):
        super().__init__()
        self.node_root = Path(node_root)

    def run_node(self, argv, text, source_path=None):
        try:
            return subprocess.run(
                ["node", *map(str, argv)], input=text, capture_output=True, text=True, cwd=self.node_root, check=True
            ).stdout
        except FileNotFoundError as error:
            raise FilterError("Node.js is needed to build the front-end assets: install node 18 or newer") from error
        except subprocess.CalledProcessError as error:
            raise FilterError(error.stderr.strip() or f"{self.name} failed on {source_path}") from error


class VueComponent(NodeFilter):
    """Compiles a Vue single-file component into an ES module (see compile_vue.mjs)."""

    name = "vue_component"

    def input(self, _in, out, source_path=None, **kw):
        out.write(self.run_node([COMPILE_VUE, source_path], _in.read(), source_path))


class Terser(NodeFilter):
    """Minifies with terser, which also shortens local names: about a quarter smaller gzipped than rjsmin."""

    name = "terser"

    def __init__(self, node_root, module):
        super().__init__(node_root)
        self.module = module

    def unique(self):
        return self.module

    def output(self, _in, out, **kw):
        argv = [self.node_root / "node_modules/terser/bin/terser", "--compress", "--mangle", "--ecma", "2020"]
        out.write(self.run_node(argv + ["--module"] * self.module, _in.read()))
