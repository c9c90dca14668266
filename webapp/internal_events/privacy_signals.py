"""Browser privacy signals: Global Privacy Control (`Sec-GPC: 1`) and Do Not Track (`DNT: 1`).

A request carrying an honoured signal is still counted in the aggregate metrics
(as GitLab does), but nothing about it goes to Snowplow. Which signals are
honoured is the operator's policy, INTERNAL_EVENTS_PRIVACY_SIGNALS.
"""

from collections.abc import Mapping

from werkzeug.datastructures import Headers

# policy -> the headers it honours
POLICIES = {
    "gpc_and_dnt": ("Sec-GPC", "DNT"),
    "gpc": ("Sec-GPC",),
    "ignore": (),
}
DEFAULT_POLICY = "gpc_and_dnt"
# The JS client names the signals its browser gives (`?privacy_signals=gpc,dnt`), for when a proxy strips headers.
DECLARED = {"gpc": "Sec-GPC", "dnt": "DNT"}


def check_policy(policy: str) -> str:
    """The policy, or ValueError naming the allowed ones."""
    if policy not in POLICIES:
        raise ValueError(f"INTERNAL_EVENTS_PRIVACY_SIGNALS={policy!r} is not one of {', '.join(POLICIES)}")
    return policy


def honoured_signals(policy: str, headers: Headers | Mapping[str, str], declared: str = "") -> list[str]:
    """The honoured signals `headers` carry or `declared` names ("gpc,dnt"), e.g. ["Sec-GPC"]; [] when none."""
    named = {DECLARED.get(word.strip().lower()) for word in declared.split(",")}
    return [name for name in POLICIES[policy] if (headers.get(name) or "").strip() == "1" or name in named]
