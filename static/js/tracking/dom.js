const CLICK_SELECTOR = '[data-event-tracking]:not([data-event-tracking-load="true"])';
const LOAD_SELECTOR = '[data-event-tracking-load="true"][data-event-tracking]';

/** The additional properties an element declares in its data-event-* attributes. */
function elementProperties(element, warn) {
  const { eventLabel, eventProperty, eventValue, eventAdditional } = element.dataset;
  const properties = {};
  if (eventLabel) properties.label = eventLabel;
  if (eventProperty) properties.property = eventProperty;
  if (eventValue && Number.isFinite(+eventValue)) properties.value = +eventValue;
  try {
    Object.assign(properties, JSON.parse(eventAdditional || '{}'));
  } catch {
    warn(`data-event-additional is not JSON: ${eventAdditional}`);
  }
  return properties;
}

/**
 * Declarative tracking for the whole page, bound once. One capture-phase click
 * listener on the document covers elements added later and elements whose own
 * handlers stop propagation; it never prevents the click's default action.
 * Elements marked data-event-tracking-load count once when they appear,
 * now or later, however often they move around the DOM.
 */
export function bindDocument(doc, internalEvents, warn) {
  const trackElement = (element) =>
    internalEvents.trackEvent(element.dataset.eventTracking, elementProperties(element, warn));
  const loaded = new WeakSet();
  const trackLoaded = (root) => {
    for (const element of [root, ...root.querySelectorAll(LOAD_SELECTOR)]) {
      if (element.matches(LOAD_SELECTOR) && !loaded.has(element)) {
        loaded.add(element);
        trackElement(element);
      }
    }
  };

  doc.addEventListener(
    'click',
    (event) => {
      const element = event.target.closest?.(CLICK_SELECTOR);
      if (element) trackElement(element);
    },
    true,
  );
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) if (node.nodeType === 1) trackLoaded(node);
    }
  }).observe(doc.documentElement, { childList: true, subtree: true });
  trackLoaded(doc.documentElement);
}
