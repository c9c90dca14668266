"""Making any decoded JSON safe to encode again: text without lone surrogates, numbers that JSON can carry."""

import math


def valid_text(value):
    """`value` with every lone surrogate in its text replaced by U+FFFD, so it encodes as UTF-8.

    JSON such as "\\udc80" decodes to a lone surrogate: Redis counts it, but
    UTF-8 encoders (Snowplow's, a page's) refuse it.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, dict):
        return {valid_text(key): valid_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [valid_text(item) for item in value]
    return value


def valid_json(value):
    """`valid_text(value)` with non-finite numbers (NaN, Infinity: not JSON) as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {valid_text(key): valid_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [valid_json(item) for item in value]
    return valid_text(value)
