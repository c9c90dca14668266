/** `import { InternalEvents } from '~/tracking'`: the page's tracker, started on first import. */
export { InternalEvents } from './start.js';
