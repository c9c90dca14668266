"""How events waiting for the collector are posted: batch sizes, what an answer means, how long to back off.

Pure rules, no I/O, so they are tested and reasoned about on their own.
"""

from itertools import islice

# A POST carries at most this many events and bytes: half of the 1 MiB a
# collector (ours, Snowplow's) takes by default, so a backlog never turns into
# one body that is refused for ever.
MAX_POST_EVENTS = 500
MAX_POST_BYTES = 512 * 1024
STM_BYTES = 24  # what posting adds to each payload: `,"stm":"<13 digits>"` and the comma between payloads
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0

DELIVERED, SPLIT, RETRY, REJECT = "delivered", "split", "retry", "reject"


def first_batch(rows, max_events=MAX_POST_EVENTS, max_bytes=MAX_POST_BYTES):
    """The leading rows ((id, payload JSON text) pairs, from any iterable: read one past the last taken)
    that fit one POST; at least one, unless there are none."""
    batch, size = [], 0
    for row in islice(rows, max_events):
        size += len(row[1]) + STM_BYTES
        if batch and size > max_bytes:
            break
        batch.append(row)
    return batch


def verdict(status_code, events_in_post):
    """What to do after the collector answered `status_code` (None: no answer at all).

    Too large (413) or malformed (400): post the halves apart, and refuse
    an event that fails on its own, so one bad event never blocks the rest.
    Anything else (no answer, 5xx, 401/403 of a misconfigured token, 429) is
    retried after a back-off: the events wait on disk meanwhile.
    """
    if status_code is not None and 200 <= status_code < 300:
        return DELIVERED
    if status_code in (400, 413):
        return SPLIT if events_in_post > 1 else REJECT
    return RETRY


def retry_delay(failures_in_row, jitter):
    """Seconds before the next attempt after `failures_in_row` failed POSTs; `jitter` in [0, 1) spreads processes."""
    exponent = min(max(failures_in_row - 1, 0), 16)
    return min(FIRST_RETRY_SECONDS * 2**exponent, MAX_RETRY_SECONDS) * (0.5 + jitter / 2)
