"""The one rule for user, namespace and project ids, shared by track_event, the usage-data API and the schemas.

GitLab's standard Snowplow context caps ids at 32 bits and allows 0; an id the
collector would file as bad must be refused before anything is counted.
"""

MIN_ID = 0
MAX_ID = 2**31 - 1
RANGE = f"an integer from {MIN_ID} to {MAX_ID}"


def is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) and MIN_ID <= value <= MAX_ID
