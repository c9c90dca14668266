"""The context schemas as a static Iglu registry, so a real Snowplow pipeline can resolve what events refer to.

Snowplow's enrich rejects, as bad rows, events whose context schemas no resolver
finds. A static registry is a folder served over HTTP:
`schemas/VENDOR/NAME/jsonschema/VERSION`, each file the self-describing schema.
"""

import json
import os
from pathlib import Path

from .contexts import context_schemas, iglu_uri


def export(folder: str | os.PathLike[str], vendor: str | None = None) -> list[tuple[str, Path]]:
    """Write every context schema below `folder`; returns [(iglu URI, file written)]."""
    written: list[tuple[str, Path]] = []
    for schema in context_schemas(vendor):
        meta = schema["self"]
        path = Path(folder) / "schemas" / meta["vendor"] / meta["name"] / meta["format"] / meta["version"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append((iglu_uri(schema), path))
    return written
