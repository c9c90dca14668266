"""The instance's stable identity for the service ping, as GitLab's `uuid`: made once, kept in the instance folder.

A file rather than Redis, so the id survives a Redis flush and is known while Redis is down.
"""

import os
import uuid
from pathlib import Path

UUID_FILE = "internal-events-instance-uuid"


def instance_uuid(instance_path):
    """This instance's uuid; the first process to ask creates it, every other one reads that one."""
    path = Path(instance_path) / UUID_FILE
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{UUID_FILE}.{os.getpid()}")
    candidate.write_text(str(uuid.uuid4()))
    try:
        os.link(candidate, path)  # atomic: exactly one process's uuid wins, even between processes
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return str(uuid.UUID(path.read_text().strip()))
