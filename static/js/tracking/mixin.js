/**
 * A Vue mixin giving components `this.trackEvent(...)`, also callable from templates
 * (`@click="trackEvent('clone_button_clicked')"`). It calls the tracker at call time, so a
 * test helper that replaces `InternalEvents.trackEvent` sees these calls too.
 */
export function vueMixin(internalEvents) {
  return {
    methods: {
      trackEvent(event, additionalProperties) {
        internalEvents.trackEvent(event, additionalProperties);
      },
    },
  };
}
