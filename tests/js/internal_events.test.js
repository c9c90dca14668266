import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readContext } from '../../static/js/tracking/context.js';
import { createInternalEvents } from '../../static/js/tracking/internal_events.js';
import { recordInternalEvents } from '../../static/js/tracking/testing.js';
import { openPage } from './page.js';

const SIGNED_IN = { user_id: 7, namespace_id: 3, project_id: 11, events: ['project_starred'] };

/** A tracker over a transport that keeps what it is given to send. */
function tracker(context) {
  const sent = [];
  const warnings = [];
  const internalEvents = createInternalEvents(context, { send: (event) => sent.push(event) }, (message) =>
    warnings.push(String(message)),
  );
  return { internalEvents, sent, warnings };
}

test("a valid call is sent with the page's namespace and project, never the user", () => {
  const { internalEvents, sent, warnings } = tracker(SIGNED_IN);
  internalEvents.trackEvent('project_starred', { label: 'star' });
  assert.deepEqual(sent, [
    { event: 'project_starred', namespace_id: 3, project_id: 11, additional_properties: { label: 'star' } },
  ]);
  assert.deepEqual(warnings, []);
});

test('a page without a project sends no project', () => {
  const { internalEvents, sent } = tracker({ ...SIGNED_IN, namespace_id: null, project_id: null });
  internalEvents.track_event('project_starred');
  assert.deepEqual(JSON.parse(JSON.stringify(sent)), [{ event: 'project_starred', additional_properties: {} }]);
});

test('signed-out visitors send nothing', () => {
  const { internalEvents, sent } = tracker({ ...SIGNED_IN, user_id: null, signed_in: false });
  internalEvents.trackEvent('project_starred');
  assert.deepEqual(sent, []);
});

test('a visitor with a privacy signal is signed in without a user id on the page, and still counted', () => {
  const { internalEvents, sent } = tracker({ ...SIGNED_IN, user_id: null, signed_in: true });
  internalEvents.trackEvent('project_starred');
  assert.equal(sent.length, 1);
});

test('an invalid call warns and sends nothing', () => {
  const { internalEvents, sent, warnings } = tracker(SIGNED_IN);
  internalEvents.trackEvent('project_stared');
  assert.deepEqual(sent, []);
  assert.deepEqual(warnings, [
    'unknown event "project_stared": define it in definitions/events/ (a page cannot send an event recorded by the server only)',
  ]);
});

test('properties are copied at call time, and what JSON cannot carry warns instead of throwing', () => {
  const { internalEvents, sent, warnings } = tracker(SIGNED_IN);
  const properties = { label: 'before' };
  internalEvents.trackEvent('project_starred', properties);
  properties.label = 'after';
  assert.equal(sent[0].additional_properties.label, 'before');

  const cyclic = {};
  cyclic.self = cyclic;
  assert.doesNotThrow(() => internalEvents.trackEvent('project_starred', cyclic));
  assert.doesNotThrow(() => internalEvents.trackEvent('project_starred', { big: 1n }));
  assert.equal(sent.length, 1);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /circular/i);
  assert.match(warnings[1], /BigInt/);
});

test('the Vue mixin goes through trackEvent at call time, so a test recorder sees its calls', () => {
  const { internalEvents, sent } = tracker(SIGNED_IN);
  const { methods } = internalEvents.mixin();
  const recorder = recordInternalEvents(internalEvents);
  methods.trackEvent('project_starred', { label: 'vue' });
  recorder.restore();
  assert.deepEqual(recorder.calls, [{ event: 'project_starred', additionalProperties: { label: 'vue' } }]);
  assert.deepEqual(sent, []);
  methods.trackEvent('project_starred');
  assert.equal(sent.length, 1);
});

test('the page context is read from its JSON block; a missing or broken block gives an empty one', async () => {
  const page = openPage(
    `<script type="application/json" id="internal-events-context">${JSON.stringify(SIGNED_IN)}</script>`,
  );
  try {
    assert.deepEqual(readContext(page.document), SIGNED_IN);
    page.document.getElementById('internal-events-context').textContent = '{not json';
    assert.deepEqual(readContext(page.document), {});
    page.document.getElementById('internal-events-context').remove();
    assert.deepEqual(readContext(page.document), {});
  } finally {
    await page.close();
  }
});
