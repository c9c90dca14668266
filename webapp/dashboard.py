"""The metrics dashboard for administrators: an overview, a metrics dictionary, a page per metric and event.

Pages are rendered in full by the server; `static/js/dashboard.js` then polls the page's
`.json` twin and swaps in the regions that changed (figures, chart, rows on screen),
so a live update carries only what is on screen, never every metric.
"""

from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, url_for
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from . import dashboard_data as data
from . import time_chart
from .assets import asset_url
from .collector import stored_events
from .errors import http_error
from .internal_events import current
from .internal_events.delivery import REDIS_FAILURES
from .internal_events.extension import admin_page, admin_required, extension, redis_unavailable
from .internal_events.status import status
from .internal_events.windows import today
from .snippets import snippets

# The project's folder: its templates/ hold the dashboard's pages and the extension's layout, its static/ their styles.
PROJECT_FOLDER = Path(__file__).resolve().parent.parent

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/admin/metrics",
    template_folder=str(PROJECT_FOLDER / "templates"),  # searched after the host's own: a host overrides by name
    static_folder=str(PROJECT_FOLDER / "static"),
    static_url_path="/static",
)
bp.register_error_handler(HTTPException, http_error)  # a page or JSON naming the problem, whatever the host does

RECENT_EVENTS = 50
POLL_SECONDS = 5
RANK_SECONDS = 60  # how old the values ordering a dictionary sorted by value may be
KINDS = ("metrics", "events")


@bp.app_template_filter("number")
def number(value):
    """Numbers as the browser's String() writes them, so a polled value reads like the rendered one."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@bp.app_template_filter("signed")
def signed(value):
    """A change with its sign: +3, −2, 0."""
    text = number(abs(value))
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else "0"


@bp.app_context_processor
def _host_parts():
    """What the extension's pages and error pages take from the host: its layout and its admin area."""
    host = extension()
    return {"internal_events_layout": host.layout, "internal_events_admin_view": host.admin_view}


@bp.app_template_global()
def internal_events_asset(source):
    """A stylesheet or script of the extension's pages: content-hashed when the app builds assets, else as it is."""
    if "assets" in current_app.extensions:
        return asset_url(source)
    return url_for("dashboard.static", filename=source)


def _chart(points, caption, unit, weekly):
    chart = time_chart.layout(points)
    return Markup(
        render_template(
            "dashboard/time_chart.svg",
            chart=chart,
            caption=caption,
            unit=unit,
            bar_label="week ending" if weekly else "day",
        )
    )


def _poll_seconds():
    return current_app.config.get("INTERNAL_EVENTS_DASHBOARD_POLL_SECONDS", POLL_SECONDS)


def _regions(template, names=None, **context):
    """A page's live regions ({element id: html}): each macro named in `names`, by default every one in the
    regions template's `live_regions`."""
    module = current_app.jinja_env.get_template(template).make_module(context)
    return {name.replace("_", "-"): str(getattr(module, name)()) for name in names or module.live_regions.split()}


def _unit(entry):
    """What a metric's numbers are, for its chart's axis."""
    if entry.kind == "unique":
        return "distinct " + ", ".join(sorted({use.unique for use in entry.events if use.unique}))
    return "sum of values" if entry.kind == "sum" else "events"


# -- the overview --------------------------------------------------------------------------------


def _overview_context():
    period = request.args.get("period", "28d")
    if period not in data.PERIODS:
        abort(400, f"period must be one of {', '.join(data.PERIODS)}")
    internal_events, day = current(), today()
    report = status(internal_events)
    memory = current_app.extensions.setdefault("dashboard_overview", data.OverviewMemory())
    view = data.overview(
        internal_events.counters, internal_events.definitions, day, period, memory, report["spool"].get("replayed")
    )
    weekly = period == "12w"
    return dict(
        day=day,
        period=period,
        periods=data.PERIODS,
        figures=view["figures"],
        top=view["top"],
        chart=_chart(
            view["points"],
            f"Events tracked per {'week' if weekly else 'day'}, {data.PERIODS[period].lower()}",
            "events",
            weekly,
        ),
        recent=_recent(),
        delivery=data.delivery(report),
        privacy=report["privacy"],
        recent_limit=RECENT_EVENTS,
        collector_on="collector" in current_app.blueprints,
        metric_count=len({m.path for m in internal_events.definitions.metrics}),
        event_count=len(internal_events.definitions.events),
    )


@bp.get("/")
@admin_page
def index():
    sender = current().snowplow
    return render_template(
        "dashboard/index.html",
        **_overview_context(),
        definition_problems=[str(problem) for problem in current().live_definitions.problems],
        collector_url=sender.collector_url if sender else None,
        poll_seconds=_poll_seconds(),
    )


@bp.get("/data.json")
@admin_required
def overview_data():
    """The overview's live regions, for its poller. Without Redis no count can be read, but the delivery
    panel still can (the status report reads the spool, not Redis): a 503 carries it, saying Redis is down."""
    try:
        context = _overview_context()
    except REDIS_FAILURES as error:
        delivery = data.delivery(status(current()))
        return redis_unavailable(
            error, regions=_regions("dashboard/_overview_regions.html", ["delivery_health"], delivery=delivery)
        )
    return jsonify(day=today().isoformat(), regions=_regions("dashboard/_overview_regions.html", **context))


def _recent():
    if "collector" not in current_app.blueprints:
        return []
    privacy = current().privacy
    host = extension()
    names = {privacy.pseudonym(user_id): name for user_id, name in host.user_names().items()}
    rows = [data.recent_event(record, names) for record in stored_events("good", RECENT_EVENTS)]
    return [
        {
            **row,
            "namespace": _name(host.visible_namespace, row["namespace_id"]),
            "project": _name(host.visible_project, row["project_id"], full=True),
        }
        for row in rows
    ]


def _name(lookup, identifier, full=False):
    """A namespace's or project's name for an id in an event; None when unknown here."""
    if not isinstance(identifier, int):
        return None
    cache = g.setdefault("dashboard_names", {})
    key = (lookup, identifier)
    if key not in cache:
        found = lookup(extension().current_user(), identifier)
        cache[key] = ((full and getattr(found, "full_path", None)) or getattr(found, "name", None)) if found else None
    return cache[key]


# -- the dictionary --------------------------------------------------------------------------------


def _dictionary_context():
    args = request.args
    kind = args.get("kind", "metrics")
    sort = args.get("sort", "name")
    if kind not in KINDS:
        abort(400, f"kind must be one of {', '.join(KINDS)}")
    if sort not in data.SORTS:
        abort(400, f"sort must be one of {', '.join(data.SORTS)}")
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        abort(400, "page must be a whole number")
    internal_events, day = current(), today()
    metrics, events = data.catalogue(internal_events.definitions)
    entries = metrics if kind == "metrics" else events
    filters = {name: args.get(name, "") for name in data.FILTERS}
    chosen = data.select(entries, args.get("q", ""), filters)
    counters = internal_events.counters
    if sort != "name":  # by values of every entry read at most RANK_SECONDS ago
        ranking = current_app.extensions.setdefault("dashboard_ranking", data.Remembered(RANK_SECONDS))
        chosen = data.ranked(counters, entries, chosen, day, sort, ranking)
    shown, page, pages = data.page_of(chosen, page)
    rows = list(zip(shown, data.figures(counters, shown, day)))  # only the page on screen is read live
    return dict(
        day=day,
        kind=kind,
        sort=sort,
        sorts=data.SORTS,
        query=args.get("q", ""),
        filters=filters,
        options=data.facet_options(metrics),
        rows=rows,
        total=len(chosen),
        all_count=len(entries),
        page=page,
        pages=pages,
        page_size=data.PAGE_SIZE,
        page_url=lambda number: url_for("dashboard.dictionary", **{**args.to_dict(), "page": number}),
    )


@bp.get("/dictionary")
@admin_page
def dictionary():
    return render_template("dashboard/dictionary.html", **_dictionary_context(), poll_seconds=_poll_seconds())


@bp.get("/dictionary.json")
@admin_required
def dictionary_data():
    """The dictionary's live regions (the rows on screen, the count, the pages), for its poller and search box."""
    return jsonify(
        day=today().isoformat(), regions=_regions("dashboard/_dictionary_regions.html", **_dictionary_context())
    )


# -- a metric's page, an event's page ----------------------------------------------------------------


@bp.get("/metric/<path:key_path>")
@admin_page
def metric(key_path):
    metrics, events = data.catalogue(current().definitions)
    entry = _found(
        (m for m in metrics if key_path in (m.key_path, *m.reported.values())),
        f"no metric with key path {key_path[:200]!r}",
    )
    by_name = {event.name: event for event in events}
    return _detail_page(
        "dashboard/metric.html",
        entry,
        uses=[
            (
                use,
                by_name.get(use.name),
                snippets(use.name, by_name[use.name].identifiers if use.name in by_name else (), use.filter),
            )
            for use in entry.events
        ],
    )


@bp.get("/event/<name>")
@admin_page
def event(name):
    metrics, events = data.catalogue(current().definitions)
    entry = _found((e for e in events if e.name == name), f"no event called {name[:200]!r}")
    return _detail_page(
        "dashboard/event.html",
        entry,
        counted_by=[m for m in metrics if name in m.event_names],
        snippets=snippets(name, entry.identifiers),
    )


def _found(entries, missing):
    """The first of `entries`, or a 404 saying what is `missing`."""
    entry = next(entries, None)
    if entry is None:
        abort(404, missing)
    return entry


def _detail_page(template, entry, **context):
    counters, day = current().counters, today()
    weeks = data.weekly_series(counters, entry, day)
    return render_template(
        template,
        entry=entry,
        day=day,
        figures=data.figures(counters, [entry], day)[0],
        chart=_chart(
            weeks,
            "Weekly values, last 12 rolling weeks (the last week is the 7d value)",
            _unit(entry) if isinstance(entry, data.MetricEntry) else "events",
            weekly=True,
        ),
        **context,
    )
