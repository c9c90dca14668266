"""Posting the outbox's events to the collector: built as posted, capped batches, halves on 413, a shared back-off."""

import logging
import random
import time

import requests

from .snowplow_policy import (
    DELIVERED,
    MAX_POST_BYTES,
    MAX_POST_EVENTS,
    REJECT,
    RETRY,
    SPLIT,
    first_batch,
    retry_delay,
    verdict,
)

log = logging.getLogger(__name__)
# Our own generator: the courier thread must not draw from, or disturb, the host app's global `random`.
_jitter = random.Random()

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
REQUEST_TIMEOUT = (2.0, 5.0)  # connect, read


class Courier:
    def __init__(self, outbox, collector_url, build, token=None, max_events=MAX_POST_EVENTS, max_bytes=MAX_POST_BYTES):
        """`build`: an outbox row's stored text -> the tracker payload to post, as JSON text."""
        self.outbox = outbox
        self.build = build
        self.endpoint = collector_url.rstrip("/") + POST_PATH
        self.max_events, self.max_bytes = max_events, max_bytes
        self.session = requests.Session()
        self.session.headers["Content-Type"] = "application/json; charset=utf-8"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def drain(self, wait_for_lock=0.0, deadline=None, respect_back_off=True):
        """Post the oldest events until none wait, a POST fails, or `deadline` (monotonic) passes.

        Only the holder of the outbox's send lock posts: one process sends for all.
        True when the outbox was found empty.
        """
        with self.outbox.send_lock(wait_for_lock) as mine:
            if not mine:
                return False
            totals = self.outbox.totals()
            if respect_back_off and totals["retry_at"] > time.time():
                return False
            failures, cap = int(totals["failures_in_row"]), self.max_events
            while deadline is None or time.monotonic() < deadline:
                rows = self.outbox.oldest(cap)
                if not rows:
                    return True
                unbuildable = []
                batch = first_batch(self._built(rows, unbuildable), cap, self.max_bytes)
                if unbuildable:
                    self.outbox.rejected(unbuildable)
                    log.error(
                        "Snowplow outbox %s: %d event(s) cannot be built, rejected", self.outbox.path, len(unbuildable)
                    )
                if not batch:
                    continue
                ids = [id for id, _ in batch]
                outcome = verdict(self._post([payload for _, payload in batch]), len(batch))
                if outcome == RETRY:
                    delay = retry_delay(failures + 1, _jitter.random())
                    self.outbox.failed(time.time() + delay)
                    log.warning(
                        "Snowplow collector %s did not take %d event(s); next attempt in %.1f s",
                        self.endpoint,
                        len(batch),
                        delay,
                    )
                    return False
                if failures:
                    self.outbox.succeeded()  # it answered: whatever it said, the back-off is over
                    failures = 0
                if outcome == DELIVERED:
                    self.outbox.delivered(ids)
                elif outcome == SPLIT:
                    cap = max(len(batch) // 2, 1)
                elif outcome == REJECT:
                    self.outbox.rejected(ids)
                    log.warning("Snowplow collector %s refused an event for good; counted as rejected", self.endpoint)
            return False

    def close(self):
        self.session.close()

    def _built(self, rows, unbuildable):
        """(id, payload) of each row, built as `first_batch` takes them; the ids of rows nothing can be built from
        (a damaged file) go to `unbuildable`: refused for good, so they cannot hold back the rest."""
        for id, stored in rows:
            try:
                yield id, self.build(stored)
            except (ValueError, KeyError, TypeError, AttributeError):
                unbuildable.append(id)

    def _post(self, payloads):
        """The collector's status code, or None when it could not be reached.

        `payloads` are JSON objects as built: the body is put together around them, each with the send
        time (`stm`) added, rather than decoded and encoded again (about 10 µs an event)."""
        stm = f',"stm":"{int(time.time() * 1000)}"}}'
        body = f'{{"schema":"{PAYLOAD_DATA_SCHEMA}","data":[{",".join(p[:-1] + stm for p in payloads)}]}}'
        try:
            return self.session.post(self.endpoint, data=body, timeout=REQUEST_TIMEOUT).status_code
        except requests.RequestException:
            return None
