/**
 * For host apps' unit tests: record trackEvent calls instead of sending them.
 *
 *   const recorder = recordInternalEvents(InternalEvents);
 *   button.click();
 *   expect(recorder.calls).toEqual([{ event: 'clone_button_clicked', additionalProperties: {} }]);
 *   recorder.restore();
 *
 * Clicks on data-event-tracking elements, the Vue mixin and track_event all go
 * through InternalEvents.trackEvent, so all of them are recorded.
 */
export function recordInternalEvents(internalEvents) {
  const original = internalEvents.trackEvent;
  const calls = [];
  internalEvents.trackEvent = (event, additionalProperties = {}) => {
    calls.push({ event, additionalProperties });
  };
  return {
    calls,
    restore() {
      internalEvents.trackEvent = original;
    },
  };
}
