"""The secret key that signs session cookies: never a guessable default.

Without `SECRET_KEY`, development and test use a random key made once per
instance and kept in its folder, so every worker of `make serve` (and every
restart) signs with the same key, and no two instances share one. Production
must set its own, and a weak one (short, or one character repeated) is refused.
"""

from pathlib import Path

from .config import ConfigError
from .internal_events.pseudonym_key import instance_secret

KEY_FILE = "secret_key"
MIN_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 8


def secret_key(configured, environment, instance_path):
    """The key to use, or ConfigError naming what to set."""
    if configured:
        if environment == "production" and weak(configured):
            raise ConfigError(f"SECRET_KEY is too weak for production: use at least {MIN_LENGTH} random "
                              "characters, e.g. python -c 'import secrets; print(secrets.token_hex(32))'")
        return configured
    if environment == "production":
        raise ConfigError("SECRET_KEY must be set in production")
    return instance_secret(Path(instance_path) / KEY_FILE)


def weak(key):
    return len(key) < MIN_LENGTH or len(set(key)) < MIN_DISTINCT_CHARACTERS
