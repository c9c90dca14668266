"""Sending internal events to a Snowplow collector: `snowplow-tracker` builds them, an outbox on disk keeps them.

`send` builds the tracker payload and writes it to the outbox (see
snowplow_outbox.py) before it returns, so the death of this process loses
nothing. A background thread posts what waits, in capped batches, backing off
while the collector is unreachable (see snowplow_courier.py). What this process
could not send is sent by the next process that uses the same outbox.
"""

import atexit
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager

from snowplow_tracker import SelfDescribingJson, StructuredEvent, Tracker

from .contexts import CATEGORY, context_schemas, iglu_uri, service_ping_context, standard_context
from .model import BASE_PROPERTIES
from .snowplow_courier import Courier
from .valid_text import valid_text

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
EXIT_SEND_SECONDS = 5.0


class OutboxEmitter:
    """The tracker's emitter: payloads go to the outbox, one transaction per `batch`, or one per event."""

    def __init__(self, outbox, unkept):
        self.outbox = outbox
        self.unkept = unkept
        self._local = threading.local()

    def input(self, payload):
        event = {key: str(value) for key, value in payload.items()}
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.append(event)
        else:
            self._keep([event])

    @contextmanager
    def batch(self, numbered=None):
        self._local.pending = []
        try:
            yield
        finally:
            pending, self._local.pending = self._local.pending, None
            if pending or numbered:
                self._keep(pending, numbered)

    def _keep(self, payloads, numbered=None):
        """Into the outbox; what it cannot take (a full disk, a broken file) is lost, counted where all processes see it."""
        try:
            kept = self.outbox.append(payloads, numbered)
        except (sqlite3.Error, OSError) as error:
            self.unkept.add(len(payloads))
            log.error("Snowplow outbox %s cannot take %d event(s), lost: %s", self.outbox.path, len(payloads), error)
            return
        if kept < len(payloads):
            log.warning("Snowplow outbox %s is full: %d event(s) dropped", self.outbox.path, len(payloads) - kept)

    # Sending is the courier's job; the tracker's own flush calls have nothing to do.
    def flush(self):
        pass

    sync_flush = async_flush = flush


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
        # The contexts' iglu URIs: a pipeline resolves them in the registry `internal-events iglu-export` writes.
        self.standard_context, self.service_ping_context = (iglu_uri(s) for s in context_schemas(vendor))
        self.environment = environment
        self.pseudonym_key = pseudonym_key
        self.outbox = outbox
        self.unkept = unkept
        self.emitter = OutboxEmitter(outbox, unkept)
        self.tracker = Tracker("internal-events", self.emitter, app_id=app_id, encode_base64=True)
        self.courier = Courier(outbox, collector_url, token, **post_limits)
        self._wake, self._stopped = threading.Event(), threading.Event()
        self._interval = flush_interval
        self._thread = threading.Thread(target=self._run, name="snowplow-courier", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send(self, event):
        properties = valid_text(event.properties)  # else Snowplow cannot encode what Redis counted
        base = {k: v for k, v in properties.items() if k in BASE_PROPERTIES}
        custom = {k: v for k, v in properties.items() if k not in BASE_PROPERTIES}
        self.tracker.track(
            StructuredEvent(
                category=event.category or CATEGORY,
                action=event.name,
                label=base.get("label"),
                property_=base.get("property"),
                value=base.get("value"),
                context=[
                    SelfDescribingJson(
                        self.standard_context, standard_context(event, self.environment, custom, self.pseudonym_key)
                    ),
                    SelfDescribingJson(self.service_ping_context, service_ping_context(event)),
                ],
            )
        )

    def batch(self, numbered=None):
        """Within it, sent events reach the outbox in one transaction, when it ends (a request's or a batch's events).

        `numbered`: the (writer, number) of the batch whose events are sent, noted with them (see snowplow_outbox.py).
        """
        return self.emitter.batch(numbered)

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
