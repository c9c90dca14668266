"""The code that triggers an event, as a developer would write it in Python, a template and JavaScript.

Shown on the dashboard's metric and event pages so instrumenting is a copy away. A
metric's filter becomes the label, property or value the call must carry.
"""

import json

BASE_PROPERTIES = ("label", "property", "value")


def snippets(event_name, identifiers=(), properties=None):
    """{"Python": ..., "Template": ..., "JavaScript": ...} for `event_name` with the given properties."""
    properties = dict(sorted((properties or {}).items()))
    python_args = [f'"{event_name}"'] + [f"{name}={_python_object(name)}" for name in identifiers]
    if properties:
        python_args.append(f"additional_properties={_python_literal(properties)}")
    attributes = [f'data-event-tracking="{event_name}"'] + [
        f'data-event-{name}="{value}"' for name, value in properties.items() if name in BASE_PROPERTIES
    ]
    extra = {name: value for name, value in properties.items() if name not in BASE_PROPERTIES}
    if extra:
        attributes.append(f"data-event-additional='{json.dumps(extra)}'")
    js_args = f"'{event_name}'" + (f", {json.dumps(properties)}" if properties else "")
    return {
        "Python": f"from webapp.internal_events import track_event\n\ntrack_event({', '.join(python_args)})",
        "Template": f"<button type=\"button\" {' '.join(attributes)}>…</button>",
        "JavaScript": f"import {{ InternalEvents }} from '~/tracking';\n\nInternalEvents.trackEvent({js_args});",
    }


def _python_object(identifier):
    return {"user": "g.user"}.get(identifier, identifier)


def _python_literal(properties):
    return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v) if not isinstance(v, bool) else v}"
                           for k, v in properties.items()) + "}"
