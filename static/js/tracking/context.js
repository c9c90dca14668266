/**
 * The page's tracking context. The server renders it as a JSON block, not as an
 * inline script, so pages keep a strict Content-Security-Policy.
 */
export function readContext(doc) {
  try {
    return JSON.parse(doc.getElementById('internal-events-context').textContent) || {};
  } catch {
    return {};
  }
}

/** Developers see tracking mistakes in the console; production visitors never do. */
export function warner(environment) {
  return environment === 'development' || environment === 'test'
    ? (...message) => console.warn('[InternalEvents]', ...message)
    : () => {};
}
