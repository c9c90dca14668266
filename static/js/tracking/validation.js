const BASE_PROPERTY_TYPES = { label: 'string', property: 'string', value: 'number' };

/**
 * Why a trackEvent call cannot be sent, or '' when it can. Checked in the browser so
 * the warning points at the call that made the mistake, not at a later batch.
 */
export function callProblem(event, properties, knownEvents) {
  if (!event || typeof event !== 'string') return `event name must be a non-empty string, got ${event}`;
  if (knownEvents?.length && !knownEvents.includes(event)) {
    return `unknown event "${event}": define it in definitions/events/ (a page cannot send an event recorded by the server only)`;
  }
  if (!properties || typeof properties !== 'object' || Array.isArray(properties)) {
    return `additional properties of "${event}" must be an object`;
  }
  for (const [key, type] of Object.entries(BASE_PROPERTY_TYPES)) {
    const value = properties[key];
    if (value != null && (typeof value !== type || (type === 'number' && !Number.isFinite(value)))) {
      return `${key} of "${event}" must be a ${type}, got ${value}`;
    }
  }
  return '';
}
