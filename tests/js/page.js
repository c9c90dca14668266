import { Window } from 'happy-dom';

/**
 * A small DOM standing in for the browser page. The client's modules use a few globals
 * (document, the window's events, MutationObserver, navigator.sendBeacon): this page
 * provides them until `close()`.
 */
export function openPage(html = '', url = 'http://127.0.0.1/') {
  const window = new Window({ url });
  window.document.body.innerHTML = html;
  const globals = {
    document: window.document,
    navigator: window.navigator,
    MutationObserver: window.MutationObserver,
    addEventListener: window.addEventListener.bind(window),
  };
  const before = Object.fromEntries(
    Object.keys(globals).map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]),
  );
  for (const [name, value] of Object.entries(globals)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  return {
    window,
    document: window.document,
    async close() {
      for (const [name, descriptor] of Object.entries(before)) {
        if (descriptor) Object.defineProperty(globalThis, name, descriptor);
        else delete globalThis[name];
      }
      await window.happyDOM.waitUntilComplete(); // the page's own requests, such as beacons
      await window.happyDOM.close();
    },
  };
}

/** Lets MutationObserver callbacks and settled promises run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
