"""The licence is stated in words once (LICENSE) and for the package tools twice: all three agree."""

import json
import tomllib

from webapp.config import PROJECT_ROOT


def test_license_file_package_json_and_pyproject_name_the_same_licence():
    npm = json.loads((PROJECT_ROOT / "package.json").read_text())["license"]
    python = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert npm == python == "MIT"
    assert (PROJECT_ROOT / "LICENSE").read_text().startswith("MIT License\n")
