"""Sending internal events to a Snowplow collector through `snowplow-tracker`.

One asynchronous emitter per process: `send` only queues, a background thread
posts batches, a timer flushes at least every second, failed batches are
retried with back-off, and whatever is queued is flushed when the process exits.
While the collector is down, up to BUFFER_CAPACITY events wait in memory per
process; newer ones are dropped and counted. The collector drops resent duplicates.
"""

import atexit
import logging
import threading

from snowplow_tracker import AsyncEmitter, SelfDescribingJson, StructuredEvent, Tracker
from snowplow_tracker.event_store import InMemoryEventStore

from .contexts import (
    CATEGORY,
    SERVICE_PING_CONTEXT,
    STANDARD_CONTEXT,
    service_ping_context,
    standard_context,
)
from .model import BASE_PROPERTIES

# snowplow-tracker logs every flush at INFO and every failure at WARNING.
# Its failures are reported once, by our own on_failure below.
logging.getLogger("snowplow_tracker.emitters").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0
BUFFER_CAPACITY = 10_000


class RetryBuffer(InMemoryEventStore):
    """The tracker's in-memory buffer, made thread-safe, counting what it drops, and quick to refill.

    The stock buffer puts a failed batch back by comparing every pair of events:
    about 3 s of CPU per failed flush once 10,000 events wait, every second of an outage.
    """

    def __init__(self, capacity):
        super().__init__(logger=log, buffer_capacity=capacity)
        self.dropped = 0
        self._lock = threading.Lock()

    def add_event(self, payload):
        with self._lock:
            if len(self.event_buffer) < self.buffer_capacity:
                self.event_buffer.append(payload)
                return True
            self.dropped += 1
            return False

    def get_events_batch(self):
        with self._lock:
            batch, self.event_buffer = self.event_buffer, []
            return batch

    def cleanup(self, batch, need_retry):
        """Failed events go back ahead of newer ones; what does not fit is dropped, newest first."""
        if not need_retry:
            return
        with self._lock:
            waiting = {event.get("eid") for event in self.event_buffer}
            retry = [event for event in batch if event.get("eid") not in waiting]
            kept = (retry + self.event_buffer)[:self.buffer_capacity]
            self.dropped += len(retry) + len(self.event_buffer) - len(kept)
            self.event_buffer = kept

    def size(self):
        return len(self.event_buffer)


class SnowplowSender:
    def __init__(self, collector_url, app_id, environment, pseudonym_key, flush_interval=FLUSH_INTERVAL_SECONDS):
        self.collector_url = collector_url
        self.environment = environment
        self.pseudonym_key = pseudonym_key
        self.sent = 0
        self.failed = 0
        self.buffer = RetryBuffer(BUFFER_CAPACITY)
        self.emitter = AsyncEmitter(
            collector_url,
            method="post",
            batch_size=10,
            event_store=self.buffer,
            request_timeout=(2.0, 5.0),
            max_retry_delay_seconds=30,
            on_success=self._on_success,
            on_failure=self._on_failure,
        )
        self.emitter.set_flush_timer(flush_interval)
        self.tracker = Tracker("internal-events", self.emitter, app_id=app_id, encode_base64=True)
        atexit.register(self.close)

    def send(self, event):
        base = {k: v for k, v in event.properties.items() if k in BASE_PROPERTIES}
        custom = {k: v for k, v in event.properties.items() if k not in BASE_PROPERTIES}
        self.tracker.track(
            StructuredEvent(
                category=CATEGORY,
                action=event.name,
                label=base.get("label"),
                property_=base.get("property"),
                value=base.get("value"),
                context=[
                    SelfDescribingJson(STANDARD_CONTEXT, standard_context(event, self.environment, custom, self.pseudonym_key)),
                    SelfDescribingJson(SERVICE_PING_CONTEXT, service_ping_context(event)),
                ],
            )
        )

    def flush(self, timeout=10.0):
        """Try once to send everything queued; True when nothing is left.

        One attempt, bounded by `timeout`: the tracker's own sync_flush retries a
        dead collector forever, which would hang shutdown.
        """

        def attempt():
            self.emitter.flush()
            self.emitter.queue.join()

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(timeout)
        return not worker.is_alive() and self.buffer.size() == 0

    def status(self):
        """Counts of this process: events the collector took, refused or missed, and still queued."""
        return {"collector": self.collector_url, "sent": self.sent, "failed_sends": self.failed,
                "queued": self.buffer.size(), "dropped": self.buffer.dropped}

    def close(self):
        """Stop the timers and make a last bounded attempt to send what is queued."""
        atexit.unregister(self.close)
        self.emitter.cancel_flush_timer()
        self.emitter._cancel_retry_timer()  # no public way to stop retries of a closed sender
        if not self.flush(timeout=5.0):
            log.warning("Snowplow collector %s unreachable at exit: %d event(s) not sent",
                        self.collector_url, self.buffer.size())

    def _on_success(self, events):
        self.sent += len(events)

    def _on_failure(self, sent, failed):
        self.sent += sent
        self.failed += len(failed)
        log.warning("Snowplow collector %s refused or missed %d event(s); they are retried",
                    self.collector_url, len(failed))
