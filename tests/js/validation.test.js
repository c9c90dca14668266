import assert from 'node:assert/strict';
import { test } from 'node:test';

import { callProblem } from '../../static/js/tracking/validation.js';

const KNOWN = ['project_starred', 'clone_button_clicked'];

test('a known event with well-typed base properties and custom ones is sendable', () => {
  const properties = { label: 'ssh', property: 'button', value: 2.5, plan: 'free' };
  assert.equal(callProblem('clone_button_clicked', properties, KNOWN), '');
  assert.equal(callProblem('project_starred', { label: null, value: undefined }, KNOWN), '');
});

test('the event name must be a non-empty string', () => {
  for (const event of ['', null, undefined, 42, {}]) {
    assert.match(callProblem(event, {}, KNOWN), /^event name must be a non-empty string, got /);
  }
});

test("an event missing from the page's definitions is refused with a hint where to define it", () => {
  assert.equal(
    callProblem('project_stared', {}, KNOWN),
    'unknown event "project_stared": define it in definitions/events/ (a page cannot send an event recorded by the server only)',
  );
});

test('without a list of known events any name is accepted: the server decides', () => {
  assert.equal(callProblem('anything_at_all', {}, undefined), '');
  assert.equal(callProblem('anything_at_all', {}, []), '');
});

test('additional properties must be a plain object', () => {
  for (const properties of [null, [], 'label', 3]) {
    assert.equal(
      callProblem('project_starred', properties, KNOWN),
      'additional properties of "project_starred" must be an object',
    );
  }
});

test('label and property must be strings, value a finite number', () => {
  const cases = [
    [{ label: 3 }, 'label of "project_starred" must be a string, got 3'],
    [{ property: true }, 'property of "project_starred" must be a string, got true'],
    [{ value: '3' }, 'value of "project_starred" must be a number, got 3'],
    [{ value: Number.NaN }, 'value of "project_starred" must be a number, got NaN'],
    [{ value: Infinity }, 'value of "project_starred" must be a number, got Infinity'],
  ];
  for (const [properties, problem] of cases) {
    assert.equal(callProblem('project_starred', properties, KNOWN), problem);
  }
});
