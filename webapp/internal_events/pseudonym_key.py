"""The instance's secret for keyed pseudonyms: configured, or generated once into the instance folder.

Every process of an instance must use the same key, or one user would get
several pseudonyms: the first process to need it writes the file, the others
read what it wrote (a link that fails if the file exists settles a race).
"""

import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "internal-events-pseudonym.key"


def pseudonym_key(configured: str | None, instance_path: str | os.PathLike[str]) -> str:
    """`configured` when set (INTERNAL_EVENTS_PSEUDONYM_KEY), else the instance folder's key, made if missing."""
    if configured:
        return configured
    return instance_secret(Path(instance_path) / KEY_FILE)


def instance_secret(path: Path) -> str:
    """The random secret kept at `path`, made if missing; the app's secret key is kept the same way."""
    if not path.exists():
        _create(path)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path.name} in the instance folder is empty: delete it to generate a new key")
    return key


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".pseudonym-key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    finally:
        os.unlink(temporary)
