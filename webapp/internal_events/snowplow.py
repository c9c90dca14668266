"""Sending internal events to a Snowplow collector through `snowplow-tracker`.

One asynchronous emitter per process: `send` only queues, a background thread
posts batches, a timer flushes at least every second, failed batches are
retried with back-off, and whatever is queued is flushed when the process exits.
"""

import atexit
import logging
import threading

from snowplow_tracker import AsyncEmitter, SelfDescribingJson, StructuredEvent, Tracker

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


class SnowplowSender:
    def __init__(self, collector_url, app_id, environment, flush_interval=FLUSH_INTERVAL_SECONDS):
        self.collector_url = collector_url
        self.environment = environment
        self.sent = 0
        self.failed = 0
        self.emitter = AsyncEmitter(
            collector_url,
            method="post",
            batch_size=10,
            buffer_capacity=BUFFER_CAPACITY,
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
                    SelfDescribingJson(STANDARD_CONTEXT, standard_context(event, self.environment, custom)),
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
        return not worker.is_alive() and self.emitter.event_store.size() == 0

    def status(self):
        """Counts of this process: events the collector took, refused or missed, and still queued."""
        return {"collector": self.collector_url, "sent": self.sent, "failed": self.failed,
                "queued": self.emitter.event_store.size()}

    def close(self):
        self.emitter.cancel_flush_timer()
        if not self.flush(timeout=5.0):
            log.warning("Snowplow collector %s unreachable at exit: %d event(s) not sent",
                        self.collector_url, self.emitter.event_store.size())

    def _on_success(self, events):
        self.sent += len(events)

    def _on_failure(self, sent, failed):
        self.sent += sent
        self.failed += len(failed)
        log.warning("Snowplow collector %s refused or missed %d event(s); they are retried",
                    self.collector_url, len(failed))
