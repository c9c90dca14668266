import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { bindDocument } from '../../static/js/tracking/dom.js';
import { recordInternalEvents } from '../../static/js/tracking/testing.js';
import { openPage, settle } from './page.js';

let page;
let recorder;
let warnings;

/** Opens `html` as the page and binds it, recording what the tracker is asked to track. */
function bind(html) {
  page = openPage(html);
  const tracker = { trackEvent() {} };
  recorder = recordInternalEvents(tracker);
  warnings = [];
  bindDocument(page.document, tracker, (message) => warnings.push(message));
  return page.document;
}

afterEach(async () => {
  await page.close();
});

const tracked = () => recorder.calls;

test('a click inside a tracked element tracks its event with the properties its attributes declare', () => {
  const doc = bind(`
    <button data-event-tracking="clone_button_clicked" data-event-label="ssh" data-event-property="widget"
            data-event-value="3" data-event-additional='{"plan": "free"}'><span id="inner">Copy</span></button>`);
  const click = new page.window.MouseEvent('click', { bubbles: true, cancelable: true });
  doc.getElementById('inner').dispatchEvent(click);
  assert.deepEqual(tracked(), [
    {
      event: 'clone_button_clicked',
      additionalProperties: { label: 'ssh', property: 'widget', value: 3, plan: 'free' },
    },
  ]);
  assert.equal(click.defaultPrevented, false);
});

test("a click is tracked even when the element's own handler stops it from bubbling", () => {
  const doc = bind('<a href="#" data-event-tracking="help_link_clicked">Help</a>');
  doc.querySelector('a').addEventListener('click', (event) => event.stopPropagation());
  doc.querySelector('a').click();
  assert.deepEqual(tracked(), [{ event: 'help_link_clicked', additionalProperties: {} }]);
});

test('clicks outside tracked elements and on load-tracked elements track nothing', () => {
  const doc = bind(`
    <p id="plain">text</p>
    <div data-event-tracking="project_viewed" data-event-tracking-load="true"><button>Go</button></div>`);
  doc.getElementById('plain').click();
  doc.querySelector('button').click();
  assert.deepEqual(tracked(), [{ event: 'project_viewed', additionalProperties: {} }]);
});

test('elements added after binding are tracked when clicked', () => {
  const doc = bind('<main></main>');
  doc
    .querySelector('main')
    .insertAdjacentHTML('beforeend', '<button data-event-tracking="project_starred">Star</button>');
  doc.querySelector('button').click();
  assert.deepEqual(tracked(), [{ event: 'project_starred', additionalProperties: {} }]);
});

test('load-tracked elements count once: when bound, when added later, never again when moved', async () => {
  const doc = bind(`
    <main><section id="a" data-event-tracking="project_viewed" data-event-tracking-load="true"
                   data-event-label="first"></section></main>`);
  assert.deepEqual(tracked(), [{ event: 'project_viewed', additionalProperties: { label: 'first' } }]);

  doc
    .querySelector('main')
    .insertAdjacentHTML(
      'beforeend',
      '<div><span data-event-tracking="widget_shown" data-event-tracking-load="true"></span></div>',
    );
  await settle();
  assert.deepEqual(tracked().slice(1), [{ event: 'widget_shown', additionalProperties: {} }]);

  doc.body.append(doc.getElementById('a'));
  await settle();
  assert.equal(tracked().length, 2);
});

test('bad data-event-additional JSON warns and the event is still tracked with its other properties', () => {
  const doc = bind(
    '<button data-event-tracking="project_starred" data-event-label="x" data-event-additional="{oops">S</button>',
  );
  doc.querySelector('button').click();
  assert.deepEqual(tracked(), [{ event: 'project_starred', additionalProperties: { label: 'x' } }]);
  assert.deepEqual(warnings, ['data-event-additional is not JSON: {oops']);
});

test('a data-event-value that is not a number is left out', () => {
  const doc = bind('<button data-event-tracking="project_starred" data-event-value="many">S</button>');
  doc.querySelector('button').click();
  assert.deepEqual(tracked(), [{ event: 'project_starred', additionalProperties: {} }]);
});
