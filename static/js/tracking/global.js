import { InternalEvents } from './start.js';

/** The script bundle's entry: `window.InternalEvents` for pages without modules. */
window.InternalEvents = InternalEvents;
