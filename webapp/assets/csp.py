"""Letting a strict Content-Security-Policy run exactly one known inline script: the import map.

Browsers treat `<script type="importmap">` as an inline script and offer no external
import maps, so under `script-src 'self'` the map needs its hash in the policy.
"""

import base64
import hashlib

SCRIPT_DIRECTIVES = ("script-src", "script-src-elem")


def script_hash(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def allow_script_source(policy, source):
    """`policy` with `source` added wherever scripts are restricted; unchanged where they are not."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    names = [d.split()[0].lower() for d in directives]
    if not any(name in SCRIPT_DIRECTIVES for name in names):
        if "default-src" not in names:
            return policy
        # script-src falls back to default-src: spell it out, plus the new source.
        default_sources = directives[names.index("default-src")].partition(" ")[2]
        directives.append(f"script-src {default_sources} {source}".replace("  ", " "))
    else:
        directives = [d + " " + source if n in SCRIPT_DIRECTIVES else d for d, n in zip(directives, names)]
    return "; ".join(directives)
