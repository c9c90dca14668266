import assert from 'node:assert/strict';
import { test } from 'node:test';

import { withPrivacySignals } from '../../static/js/tracking/privacy_signals.js';

const URL = '/api/v4/usage_data/track_events';

test('a browser without signals leaves the API URL as it is', () => {
  assert.equal(withPrivacySignals(URL, {}), URL);
  assert.equal(withPrivacySignals(URL, { globalPrivacyControl: false, doNotTrack: '0' }), URL);
  assert.equal(withPrivacySignals(URL, undefined), URL);
});

test('Global Privacy Control and Do Not Track are named in the URL', () => {
  assert.equal(withPrivacySignals(URL, { globalPrivacyControl: true }), `${URL}?privacy_signals=gpc`);
  assert.equal(withPrivacySignals(URL, { doNotTrack: '1' }), `${URL}?privacy_signals=dnt`);
  assert.equal(
    withPrivacySignals(`${URL}?x=1`, { globalPrivacyControl: true, doNotTrack: '1' }),
    `${URL}?x=1&privacy_signals=gpc,dnt`,
  );
});
