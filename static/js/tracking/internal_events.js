import { callProblem } from './validation.js';
import { vueMixin } from './mixin.js';

/**
 * The public tracker. The user is never sent: the server takes it from the session.
 * Signed-out visitors send nothing, as the API would refuse them anyway. Visitors
 * with a privacy signal (GPC, DNT) are signed in without a user id on the page:
 * their events are counted, and the server sends none of them to Snowplow.
 */
export function createInternalEvents(context, transport, warn) {
  const InternalEvents = {
    trackEvent(event, additionalProperties = {}) {
      try {
        if (!(context.signed_in ?? context.user_id != null)) return;
        const problem = callProblem(event, additionalProperties, context.events);
        if (problem) return warn(problem);
        transport.send({
          event,
          namespace_id: context.namespace_id ?? undefined,
          project_id: context.project_id ?? undefined,
          // A copy made now: later changes by the caller are not sent, and what cannot be
          // sent as JSON (cycles, BigInt) fails here, alone, not in the batch it would join.
          additional_properties: JSON.parse(JSON.stringify(additionalProperties)),
        });
      } catch (error) {
        warn(error);
      }
    },
    /** The older spelling some docs use. */
    track_event: (event, additionalProperties) => InternalEvents.trackEvent(event, additionalProperties),
    mixin: () => vueMixin(InternalEvents),
    flush: () => transport.flush(),
  };
  return InternalEvents;
}
