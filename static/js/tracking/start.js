import { readContext, warner } from './context.js';
import { bindDocument } from './dom.js';
import { createInternalEvents } from './internal_events.js';
import { withPrivacySignals } from './privacy_signals.js';
import { createTransport } from './transport.js';

const DEFAULT_API_URL = '/api/v4/usage_data/track_events';
// One tracker per page, shared by every copy of this code (script bundle, module
// build, source modules): a second one would bind the document again and count
// every click twice.
const INSTANCE = Symbol.for('internal-events');

function start() {
  const context = readContext(document);
  const warn = warner(context.environment);
  const url = withPrivacySignals(context.api_url || DEFAULT_API_URL, globalThis.navigator);
  const internalEvents = createInternalEvents(context, createTransport(url, warn), warn);
  bindDocument(document, internalEvents, warn);
  return internalEvents;
}

export const InternalEvents = (globalThis[INSTANCE] ||= start());
