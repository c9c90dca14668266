"""Sending internal events to a Snowplow collector: an outbox on disk keeps them, `snowplow-tracker` builds them.

`send` writes a compact record of the event (snowplow_record.py) to the outbox
(snowplow_outbox.py) before it returns, so the death of this process loses
nothing. A background thread builds the tracker payloads of what waits and
posts them, in capped batches, backing off while the collector is unreachable
(see snowplow_courier.py). What this process could not send is sent by the next
process that uses the same outbox.
"""

import atexit
import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager

from snowplow_tracker import SelfDescribingJson, StructuredEvent, Subject
from snowplow_tracker.constants import VERSION

from .contexts import context_schemas, iglu_uri, service_ping_context, standard_context
from .snowplow_courier import Courier
from .snowplow_record import is_record, record

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
EXIT_SEND_SECONDS = 5.0


class OutboxWriter:
    """Records go to the outbox: one transaction per `batch`, or one per event."""

    def __init__(self, outbox, unkept):
        self.outbox = outbox
        self.unkept = unkept
        self._local = threading.local()

    def keep(self, event_record):
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.append(event_record)
        else:
            self._keep([event_record])

    @contextmanager
    def batch(self, numbered=None):
        self._local.pending = []
        try:
            yield
        finally:
            pending, self._local.pending = self._local.pending, None
            if pending or numbered:
                self._keep(pending, numbered)

    def _keep(self, records, numbered=None):
        """Into the outbox; what it cannot take (a full disk, a broken file) is lost, counted where all processes see it."""
        try:
            kept = self.outbox.append(records, numbered)
        except (sqlite3.Error, OSError) as error:
            self.unkept.add(len(records))
            log.error("Snowplow outbox %s cannot take %d event(s), lost: %s", self.outbox.path, len(records), error)
            return
        if kept < len(records):
            log.warning("Snowplow outbox %s is full: %d event(s) dropped", self.outbox.path, len(records) - kept)


class PayloadBuilder:
    """snowplow-tracker's payload of a record, as JSON text: a structured event with our two contexts, base64.

    The steps of its `Tracker`, but with the record's event id and time where the tracker would draw new ones.
    """

    NAMESPACE = "internal-events"

    def __init__(self, app_id, environment, vendor=None):
        # The contexts' iglu URIs: a pipeline resolves them in the registry `internal-events iglu-export` writes.
        self.standard_context, self.service_ping_context = (iglu_uri(s) for s in context_schemas(vendor))
        self.environment = environment
        self.subject = Subject()
        self.tracker_fields = {"tv": VERSION, "tna": self.NAMESPACE, "aid": app_id}

    def __call__(self, stored):
        """The payload to post for an outbox row: built from a record, or kept by an earlier version as it is."""
        kept = json.loads(stored)
        if not is_record(kept):
            return stored
        base = kept["base"]
        event = StructuredEvent(
            category=kept["category"],
            action=kept["action"],
            label=base.get("label"),
            property_=base.get("property"),
            value=base.get("value"),
            context=[
                SelfDescribingJson(
                    self.standard_context, standard_context(kept["facts"], self.environment, kept["dtm"])
                ),
                SelfDescribingJson(self.service_ping_context, service_ping_context(kept["action"])),
            ],
        )
        payload = event.build_payload(encode_base64=True, json_encoder=None, subject=self.subject)
        payload.add("eid", kept["eid"])
        payload.add("dtm", kept["dtm"])
        payload.add_dict(self.tracker_fields)
        return json.dumps({key: str(value) for key, value in payload.nv_pairs.items()})


class SnowplowSender:
    def __init__(
        self,
        collector_url,
        app_id,
        environment,
        pseudonym_key,
        outbox,
        unkept,
        token=None,
        flush_interval=FLUSH_INTERVAL_SECONDS,
        vendor=None,
        **post_limits,
    ):
        self.collector_url = collector_url
        self.pseudonym_key = pseudonym_key
        self.outbox = outbox
        self.unkept = unkept
        self.writer = OutboxWriter(outbox, unkept)
        self.courier = Courier(outbox, collector_url, PayloadBuilder(app_id, environment, vendor), token, **post_limits)
        self._wake, self._stopped = threading.Event(), threading.Event()
        self._interval = flush_interval
        self._thread = threading.Thread(target=self._run, name="snowplow-courier", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send(self, event):
        """Keep `event` for the collector (within `batch`, when it ends)."""
        self.writer.keep(record(event, self.pseudonym_key))

    def batch(self, numbered=None):
        """Within it, sent events reach the outbox in one transaction, when it ends (a request's or a batch's events).

        `numbered`: the (writer, number) of the batch whose events are sent, noted with them (see snowplow_outbox.py).
        """
        return self.writer.batch(numbered)

    def holds(self, writer, number):
        """Whether the outbox already has the events of that batch (False when it cannot be read)."""
        try:
            return self.outbox.holds(writer, number)
        except (sqlite3.Error, OSError):
            return False

    def flush(self, timeout=10.0):
        """Try now, back-off or not, to post everything waiting; True when nothing is left.

        One attempt per batch, bounded by `timeout`: a dead collector fails fast.
        """
        deadline = time.monotonic() + timeout
        return self.courier.drain(wait_for_lock=timeout, deadline=deadline, respect_back_off=False)

    def status(self):
        """The outbox's figures, the same in every process: waiting, delivered, dropped, rejected, failed POSTs,
        and `unkept`: events the outbox could not take (kept in Redis, as the disk is what failed).

        Never raises: an outbox that cannot be read shows its `error`.
        """
        report = {
            "collector": self.collector_url,
            "outbox": str(self.outbox.path),
            "error": None,
            "unkept": self.unkept.value(),
        }
        try:
            return {**report, **self.outbox.counts()}
        except (sqlite3.Error, OSError) as error:
            return {
                **report,
                "error": f"{type(error).__name__}: {error}",
                "queued": None,
                "delivered": None,
                "dropped": 0,
                "rejected": 0,
                "failed_posts": None,
            }

    def close(self):
        """Stop the courier and make a last bounded attempt to post; what is left waits on disk for the next process."""
        atexit.unregister(self.close)
        self._stopped.set()
        self._wake.set()
        self._thread.join(1.0)  # a POST under way holds the send lock: the flush below waits for it
        if not self._flush_quietly():
            log.warning(
                "Snowplow collector %s unreachable at exit: %s event(s) wait in %s for the next process",
                self.collector_url,
                self.status()["queued"],
                self.outbox.path,
            )
        self.courier.close()

    def _flush_quietly(self):
        try:
            return self.flush(timeout=EXIT_SEND_SECONDS)
        except (sqlite3.Error, OSError):
            log.exception("Snowplow outbox %s unusable at exit", self.outbox.path)
            return False

    def _run(self):
        last_error = None
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.courier.drain()
                last_error = None
            except Exception as error:  # a broken outbox must not end the thread; said once, not every second
                if repr(error) != last_error:
                    log.exception("Snowplow courier failed; retrying every %.0f s", self._interval)
                last_error = repr(error)
