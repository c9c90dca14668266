import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { createTransport } from '../../static/js/tracking/transport.js';
import { startApi } from './api_server.js';
import { openPage } from './page.js';

let api;
let page;
let warnings;
let waits;

/** A transport to a fresh API that answers `answers`; its retry pauses are recorded and skipped. */
async function transportTo(answers) {
  api = await startApi(answers);
  page = openPage('', new URL(api.url).origin);
  warnings = [];
  waits = [];
  const wait = async (ms) => {
    waits.push(ms);
  };
  return createTransport(api.url, (message) => warnings.push(String(message)), wait);
}

afterEach(async () => {
  await page.close();
  await api.close();
});

const events = (count, from = 0) => Array.from({ length: count }, (_, i) => ({ event: `event_${from + i}` }));

test('events sent close together share one request', async () => {
  const transport = await transportTo([{ status: 200 }]);
  for (const event of events(3)) transport.send(event);
  await api.received(1);
  await transport.flush();
  assert.deepEqual(api.requests, [events(3)]);
  assert.deepEqual(warnings, []);
});

test("a request carries at most 50 events, the API's limit", async () => {
  const transport = await transportTo([{ status: 200 }]);
  for (const event of events(120)) transport.send(event);
  await transport.flush();
  assert.deepEqual(api.requests, [events(50), events(50, 50), events(20, 100)]);
});

test('5xx and 429 answers are retried with growing pauses until the API accepts', async () => {
  const transport = await transportTo([{ status: 503 }, { status: 429 }, { status: 200 }]);
  transport.send({ event: 'project_starred' });
  await transport.flush();
  assert.deepEqual(api.requests, Array(3).fill([{ event: 'project_starred' }]));
  assert.deepEqual(waits, [500, 1000]);
  assert.deepEqual(warnings, []);
});

test('a Retry-After longer than the backoff is honoured', async () => {
  const transport = await transportTo([{ status: 503, headers: { 'Retry-After': '7' } }, { status: 200 }]);
  transport.send({ event: 'project_starred' });
  await transport.flush();
  assert.deepEqual(waits, [7000]);
  assert.equal(api.requests.length, 2);
});

test('after four failed attempts the batch is given up with a warning', async () => {
  const transport = await transportTo([{ status: 500 }]);
  transport.send({ event: 'project_starred' });
  await transport.flush();
  assert.equal(api.requests.length, 4);
  assert.deepEqual(waits, [500, 1000, 2000]);
  assert.deepEqual(warnings, ['1 event(s) not sent after 4 attempts (500)']);
});

test('network errors are retried like 5xx answers', async () => {
  const transport = await transportTo([{ status: 200 }]);
  await api.close(); // nothing listens on its port any more
  transport.send({ event: 'project_starred' });
  await transport.flush();
  assert.deepEqual(waits, [500, 1000, 2000]);
  assert.deepEqual(warnings, ['1 event(s) not sent after 4 attempts (network error)']);
});

test("a refused batch is not retried and the API's reason is shown", async () => {
  const transport = await transportTo([{ status: 400, body: { error: 'events must be a list' } }]);
  transport.send({ event: 'project_starred' });
  await transport.flush();
  assert.equal(api.requests.length, 1);
  assert.deepEqual(warnings, ['events refused (400): events must be a list']);
});

test('events the API refused one by one are each shown', async () => {
  const results = [
    { event: 'project_starred', accepted: true },
    { event: 'project_stared', accepted: false, error: 'unknown event' },
  ];
  const transport = await transportTo([{ status: 200, body: { results } }]);
  transport.send({ event: 'project_starred' });
  transport.send({ event: 'project_stared' });
  await transport.flush();
  assert.deepEqual(warnings, ['event "project_stared" refused: unknown event']);
});

test('what is queued when the page goes away leaves as a beacon', async () => {
  const transport = await transportTo([{ status: 200 }]);
  transport.send({ event: 'project_starred' });
  transport.send({ event: 'help_link_clicked' });
  page.window.dispatchEvent(new page.window.Event('pagehide'));
  await api.received(1);
  assert.deepEqual(api.requests, [[{ event: 'project_starred' }, { event: 'help_link_clicked' }]]);
});

test('a beacon the browser refuses is sent by fetch instead when the page is hidden', async () => {
  const transport = await transportTo([{ status: 200 }]);
  page.window.navigator.sendBeacon = () => false;
  transport.send({ event: 'project_starred' });
  Object.defineProperty(page.document, 'visibilityState', { value: 'hidden' });
  page.document.dispatchEvent(new page.window.Event('visibilitychange'));
  await transport.flush();
  assert.deepEqual(api.requests, [[{ event: 'project_starred' }]]);
});
