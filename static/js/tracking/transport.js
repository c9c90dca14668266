const BATCH_DELAY_MS = 100;
const MAX_BATCH = 50; // the API's limit per request
const MAX_ATTEMPTS = 4;
const KEEPALIVE_LIMIT = 60000; // browsers refuse keepalive bodies over 64 KB

const isRetryable = (response) => !response || response.status === 429 || response.status >= 500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends events to the usage-data API in batches. Events that happen close together
 * share one request; `keepalive` lets a request outlive the page, and whatever is
 * still queued when the page goes away leaves with sendBeacon. Nothing here ever
 * throws or waits on the page's own work. `wait` pauses between retries (tests pass their own).
 */
export function createTransport(url, warn, wait = sleep) {
  const queue = [];
  const inFlight = new Set();
  let timer = 0;

  async function post(events) {
    const body = JSON.stringify({ events });
    for (let attempt = 1; ; attempt++) {
      let response;
      try {
        response = await fetch(url, {
          method: 'POST',
          body,
          headers: { 'Content-Type': 'application/json' },
          credentials: 'same-origin',
          keepalive: body.length < KEEPALIVE_LIMIT,
        });
      } catch {
        // network error: retried below
      }
      if (!isRetryable(response)) return report(response);
      if (attempt === MAX_ATTEMPTS) {
        return warn(
          `${events.length} event(s) not sent after ${attempt} attempts (${response ? response.status : 'network error'})`,
        );
      }
      const retryAfter = Number(response?.headers.get('Retry-After')) * 1000 || 0;
      await wait(Math.max(retryAfter, 250 * 2 ** attempt));
    }
  }

  async function report(response) {
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) return warn(`events refused (${response.status}): ${answer.error}`);
    for (const result of answer.results || []) {
      if (!result.accepted) warn(`event "${result.event}" refused: ${result.error}`);
    }
  }

  function sendQueued(sendBatch) {
    clearTimeout(timer);
    timer = 0;
    while (queue.length) sendBatch(queue.splice(0, MAX_BATCH));
  }

  function startPost(events) {
    const sending = post(events).catch(warn);
    inFlight.add(sending);
    sending.finally(() => inFlight.delete(sending));
  }

  function beacon(events) {
    try {
      return navigator.sendBeacon(url, JSON.stringify({ events }));
    } catch {
      return false;
    }
  }

  function leavePage() {
    sendQueued((events) => beacon(events) || startPost(events));
  }

  addEventListener('pagehide', leavePage);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && leavePage());

  return {
    send(event) {
      queue.push(event);
      if (queue.length >= MAX_BATCH) sendQueued(startPost);
      else timer ||= setTimeout(() => sendQueued(startPost), BATCH_DELAY_MS);
    },
    /** Send what is queued now; resolves when every request, retries included, has finished. */
    flush() {
      sendQueued(startPost);
      return Promise.all(inFlight).then(() => {});
    },
  };
}
