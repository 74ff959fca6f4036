"""The leaders' map pages, built with folium and served by geo_service itself.

folium lays out the page (map, scale bar, optional basemap, assets); the layers, legend,
summary, search, quarter timeline and live updates are drawn by geo_service_maps.js from
data embedded in the page, so the same page works live and saved as one offline file.
"""

import re
from dataclasses import replace
from html import escape
from pathlib import Path
from urllib.parse import urlencode

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template
from sqlalchemy.orm import Session

from geo_service.campaign import tallies
from geo_service.maps import assets, data
from geo_service.maps import tiles as parcel_tiles
from geo_service.maps.data import View
from geo_service.maps.words import NUMBER_LOCALE, gettext, script_words
from geo_service.settings import get_settings
from geo_service.units import find_district
from geo_service.web.i18n import DEFAULT as DEFAULT_LOCALE
from geo_service.web.i18n import HTML_LANG, N_

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/maps/static"
OWN_JS = "geo_service_maps.js"
OWN_CSS = "geo_service_maps.css"
ZOOM_SNAP = 0.25
PHONE = "(max-width: 700px)"  # as geo_service_maps.css and .js say
PHONE_MAP_HEIGHT = 0.7  # of the screen's height (geo_service_maps.css: 70vh)
POLL_MS = 10_000  # well inside the 30 s within which a leader must see a change


class _Start(MacroElement):
    """Starts geo_service_maps.js once folium has created the Leaflet map."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "geoServiceMaps.start({{ this._parent.get_name() }}, {{ this.config }});"
        "{% endmacro %}"
    )

    def __init__(self, config: dict):
        super().__init__()
        self._name = "GeoServiceStart"
        self.config = data.dumps(config)


# folium's viewport forbids zooming (maximum-scale=1.0, user-scalable=no): someone who needs
# larger text on a phone must be able to pinch (WCAG 1.4.4).
_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')
ZOOMABLE = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def _zoomable(page: str) -> str:
    """The first viewport <meta> made ZOOMABLE, any later one (folium's) left out: a page
    whose head starts with _early_tiles has it there, before folium's."""
    seen = []

    def one(found) -> str:
        seen.append(found)
        return ZOOMABLE if len(seen) == 1 else ""

    return _VIEWPORT.sub(one, page)


class _Page(Figure):
    """folium's page with what every page of the service has: a language, a header leading
    home, one h1, the map in <main>, and beside it the figures as text (#gs-units, filled
    by geo_service_maps.js; the support map's credit table)."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang }}">\n'
        "<head>\n{{ this.header.render(**kwargs) }}\n</head>\n"
        '<body class="gs-map-page">\n'
        '<header class="gs-top">'
        '{% if this.home %}<a class="gs-home" href="/">{{ this.home }}</a>{% endif %}'
        "<h1>{{ this.heading }}</h1></header>\n"
        '<main class="gs-main">\n{{ this.html.render(**kwargs) }}\n</main>\n'
        "</body>\n<script>\n{% if this.deferred %}"
        'document.addEventListener("DOMContentLoaded", function () {\n'
        "{{ this.script.render(**kwargs) }}\n});{% else %}{{ this.script.render(**kwargs) }}"
        "{% endif %}\n</script>\n</html>\n"
    )

    def __init__(self, heading: str, home: bool, locale: str = DEFAULT_LOCALE):
        super().__init__()
        self.heading = escape(heading)
        self.lang = HTML_LANG[locale]
        # a saved file has no service to go home to
        self.home = escape(gettext(locale)(_HOME)) if home else ""
        self.beside: list[Element] = []
        # A live page's scripts are deferred: the body (and the first view's tile requests,
        # _early_tiles) need not wait for them; the map is made once they have run.
        self.deferred = False

    def render(self, **kwargs) -> str:
        for child in self._children.values():
            child.render(**kwargs)  # the map puts its <div> into self.html here
        for element in self.beside:  # after the map: read, and tabbed to, in the order seen
            self.html.add_child(element)
        self.beside = []
        page = self._template.render(this=self, kwargs=kwargs)
        if self.deferred:
            page = page.replace("<script src=", "<script defer src=")
        return _zoomable(page)


_HOME = N_("geo_service campaign progress")
_BASEMAP = N_("Basemap")


def page_words(locale: str) -> dict:
    """What geo_service_maps.js says its words with: the msgids in the page's language,
    and the locale it formats numbers in."""
    return {"words": script_words(locale), "locale": NUMBER_LOCALE[locale]}


def _units() -> Element:
    """Filled by geo_service_maps.js: each unit's figures, a button showing it on the map."""
    return Element('<aside class="gs-side" id="gs-units" aria-labelledby="gs-units-title"></aside>')


def _base_map(
    bounds, title: str, static: bool, locale: str = DEFAULT_LOCALE, first: Element | None = None
) -> folium.Map:
    """`first`: what the head holds before the stylesheets and scripts (_early_tiles)."""
    settings = get_settings()
    centre = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    # Fractional zoom lets a district fill a wall screen instead of snapping small.
    fmap = folium.Map(
        location=centre,
        zoom_start=11,
        tiles=None,
        control_scale=True,
        zoom_snap=ZOOM_SNAP,
        zoom_delta=0.5,
    )
    # Only local Leaflet: folium's CDN defaults (jQuery, Bootstrap, Font Awesome) would
    # leave the page blank on an intranet, and nothing here needs them.
    fmap.default_js, fmap.default_css = [], []
    page = _Page(title, home=not static, locale=locale)
    page.deferred = not static
    page.add_child(fmap)
    root = fmap.get_root()
    root.header.add_child(Element(f"<title>{escape(title)}</title>"))
    if first is not None:
        root.header.add_child(first)
    if not static:
        root.header.add_child(Element('<link rel="icon" href="/favicon.ico">'))
    if static:
        root.header.add_child(Element(assets.inline_html()))
        root.header.add_child(Element(_inline_own()))
    else:
        assets.use_local_assets(fmap)
        css, js = (assets.own_url(STATIC_PREFIX, STATIC_DIR, name) for name in (OWN_CSS, OWN_JS))
        root.header.add_child(
            Element(f'<link rel="stylesheet" href="{css}"><script src="{js}"></script>')
        )
    if settings.basemap_url and not static:
        # An intranet tile server or Tianditu (CGCS2000, no offset): never a GCJ-02 basemap.
        folium.TileLayer(
            tiles=settings.basemap_url,
            attr=settings.basemap_attribution,
            name=gettext(locale)(_BASEMAP),
        ).add_to(fmap)
    return fmap


def _inline_own() -> str:
    css = (STATIC_DIR / OWN_CSS).read_text(encoding="utf-8")
    js = (STATIC_DIR / OWN_JS).read_text(encoding="utf-8")
    return f"<style>{css}</style><script>{js}</script>"


def _snapshot(session: Session, view: View, with_parcels: bool = True) -> dict:
    return {
        "townships": data.township_features(session, view),
        "parcels": data.parcel_features(session, view) if with_parcels else None,
        "summary": data.district_summary(session, view),
        "token": data.change_token(session),
    }


def progress_data(session: Session, view: View) -> dict:
    """What the live page fetches: the same shape as the data embedded in it."""
    return _snapshot(session, view, with_parcels=not _use_tiles(session, view))


def _use_tiles(session: Session, view: View) -> bool:
    return data.parcel_count(session, view) > get_settings().map_tile_threshold


def progress_page(
    session: Session,
    view: View,
    static: bool = False,
    up_url: str | None = None,
    locale: str = DEFAULT_LOCALE,
) -> str:
    """The progress map of a district, or of the city (`view.city`); `up_url` is the city
    level for a district's page, offered to those who may see it."""
    bounds = data.district_bounds(session, view.district)
    tiles = not static and _use_tiles(session, view)
    query = _query(view)
    snapshot = _snapshot(session, view, with_parcels=not tiles)
    config = {
        "mode": "progress",
        "view": {
            "district": view.district,
            "kind": view.kind,
            "year": view.year,
            "quarter": view.quarter,
            # The quarter shown as the timeline names it (2018Q2): a campaign longer than a
            # year has two quarters of one number.
            "period": f"{view.as_of.year}Q{view.quarter}" if view.quarter else None,
            "city": view.city,
            "campaign": view.campaign.name if view.campaign else None,
        },
        # The campaign picker: every campaign on record.
        "campaigns": view.campaigns,
        "up_url": up_url,
        "bounds": bounds,
        "data": snapshot,
        "tiles": f"/tiles/{{z}}/{{x}}/{{y}}.pbf?{query}" if tiles else None,
        # The tiles only draw (below zoom 12 they hold id and status): a tap asks here.
        "facts": f"/tiles/parcels/at.json?{query}" if tiles else None,
        "filled": _filled(session, view, snapshot["token"]) if tiles else None,
        "live": not static and view.quarter is None,
        "poll_ms": POLL_MS,
        "data_url": f"/maps/progress/data.json?{query}",
        "changes_url": "/api/changes",
        "search_url": "/api/parcels?limit=1&code=",
        "timeline": data.timeline_days(view),
        **page_words(locale),
    }
    if static:
        config["snapshots"] = _all_quarters(session, view, config["data"])
    _ = gettext(locale)
    kind = _(_KINDS[view.kind])
    title = _("%(district)s %(kind)s progress") % {"district": view.district, "kind": kind}
    early = _early_tiles(config) if config["filled"] else None
    fmap = _base_map(bounds, title, static, locale, first=early)
    fmap.add_child(_Start(config))
    fmap.get_root().beside.append(_units())
    return fmap.get_root().render()


# Runs first in the head, before any stylesheet or script has arrived: on a phone (where
# the map is the screen's width and 70% of its height: geo_service_maps.css) it works out
# the zoom Leaflet's fitBounds will give the map (Leaflet's getBoundsZoom, Web Mercator,
# zoomSnap) and, when it is the zoom cfg.filled names, asks for those tiles at once; the
# tile layer then takes these answers (geo_service_maps.js, skipEmpty) instead of asking
# again. The tiles and the scripts come down together instead of one after the other.
# A wider screen asks when the map is made (an office's network is not the bottleneck).
_EARLY_TILES = """(function (e) {
  if (!window.fetch || !window.matchMedia || !matchMedia(e.phone).matches) return;
  var width = window.innerWidth, height = window.innerHeight * e.height;
  function px(lat, lon) {
    var s = Math.sin(lat * Math.PI / 180);
    return [(lon + 180) / 360 * 256, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256];
  }
  var a = px(e.bounds[0][0], e.bounds[0][1]), b = px(e.bounds[1][0], e.bounds[1][1]);
  var zoom = Math.log(Math.min(width / Math.abs(b[0] - a[0]),
    height / Math.abs(b[1] - a[1]))) / Math.LN2;
  zoom = Math.floor(Math.round(zoom / (e.snap / 100)) * (e.snap / 100) / e.snap) * e.snap;
  if (Math.round(zoom) !== e.zoom) return;
  var url = e.tiles + "&v=" + encodeURIComponent(e.token) + (e.as_of ? "&as_of=" + e.as_of : "");
  window.gsEarlyTiles = {};
  e.filled.forEach(function (t) {
    var one = url.replace("{z}", e.zoom).replace("{x}", t[0]).replace("{y}", t[1]);
    window.gsEarlyTiles[one] = fetch(one);
  });
})(%s);"""


def _early_tiles(config: dict) -> Element:
    early = {
        "bounds": config["bounds"],
        "snap": ZOOM_SNAP,
        "phone": PHONE,
        "height": PHONE_MAP_HEIGHT,
        "zoom": config["filled"]["zoom"],
        "filled": config["filled"]["tiles"],
        "tiles": config["tiles"],
        "token": config["data"]["token"],
        "as_of": config["data"]["summary"].get("as_of"),
    }
    # The viewport first: before it, a phone's script sees a 980-pixel-wide page.
    return Element(f"{ZOOMABLE}<script>{_EARLY_TILES % data.dumps(early)}</script>")


def _filled(session: Session, view: View, token: str) -> dict | None:
    """The tiles holding parcels at one zoom, so that the first view asks for no empty
    tile (晋安区 at z11 on a phone: 6 of the 9 in view); a district's map of today only
    (the page stops skipping once it draws other tiles). `token`: the page's change token,
    which the tiles are kept under."""
    if view.city or view.quarter is not None:
        return None
    unit = find_district(session, view.district)
    found = parcel_tiles.filled_tiles(token, unit.id, view.kind)
    return {"zoom": parcel_tiles.FILLED_ZOOM, "tiles": found}


def _query(view: View) -> str:
    """The view's query for its data, tiles and links: the campaign by name when shown."""
    query = {"district": view.district, "kind": view.kind}
    query.update({"campaign": view.campaign.name} if view.campaign else {"year": view.year})
    return urlencode(query)


def _all_quarters(session: Session, view: View, now: dict) -> dict:
    """A saved file cannot ask the service: every quarter's state goes into the page."""
    snapshots = {"now": now}
    for quarter in data.quarters(view):
        past = replace(view, quarter=quarter.quarter, as_of=data.quarter_day(view, quarter))
        snapshots[str(quarter)] = _snapshot(session, past)
    return snapshots


_KINDS = {"land": N_("land delivery"), "demolition": N_("demolition")}


def support_page(
    session: Session, view: View, static: bool = False, locale: str = DEFAULT_LOCALE
) -> str:
    bounds = data.district_bounds(session, view.district)
    links = tallies.support_links(session, kind=view.kind, as_of=view.as_of, district=view.district)
    parcels = data.parcel_features(session, view)
    parcels["features"] = [f for f in parcels["features"] if f["properties"]["supported"]]
    config = {
        "mode": "support",
        "view": {
            "district": view.district,
            "kind": view.kind,
            "year": view.year,
            "campaign": view.campaign.name if view.campaign else None,
        },
        "bounds": bounds,
        "data": {
            "townships": data.township_features(session, view),
            "parcels": parcels,
            "links": [_link(link) for link in links],
        },
        **page_words(locale),
    }
    _ = gettext(locale)
    title = _("%(district)s cross-township support") % {"district": view.district}
    fmap = _base_map(bounds, title, static, locale)
    fmap.add_child(_Start(config))
    fmap.get_root().beside.append(Element(_credit_table(session, view, links, _)))
    return fmap.get_root().render()


def _link(link) -> dict:
    return {
        "host": link.host,
        "helper": link.helper,
        "kind": link.kind,
        "parcels": link.parcels,
        "verified_parcels": link.verified_parcels,
        "verified_m2": link.verified_m2,
    }


def _credit_table(session: Session, view: View, links, _=str) -> str:
    """Beside the map: each township's verified area as host and as helper."""
    kind = view.kind

    def credited(credit: str) -> dict:
        rows = tallies.tally(
            session,
            by="township",
            kind=kind,
            year=None if view.campaign else view.year,
            as_of=view.as_of,
            credit=credit,
            campaign=view.campaign,
            district=view.district,
        )
        return {r.township: r for r in rows}

    host, helper = credited("host"), credited("helpers")
    unit, scale = (_("mu"), 10000 / 15) if kind == "land" else ("m²", 1)
    rows = []
    for name in sorted(set(host) | set(helper)):
        own = host[name].verified_m2 if name in host else 0.0
        helped_m2 = helper[name].verified_m2 if name in helper else 0.0
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{own / scale:,.0f}</td>"
            f"<td>{helped_m2 / scale:,.0f}</td></tr>"
        )
    pairs = (
        "".join(
            f"<tr><td>{escape(link.helper)} → {escape(link.host)}</td><td>{link.parcels}</td>"
            f"<td>{link.verified_m2 / scale:,.0f}</td></tr>"
            for link in links
        )
        or f'<tr><td colspan="3">{escape(_(_NO_SUPPORT))}</td></tr>'
    )
    words = {
        key: escape(_(msgid) % {"district": view.district, "unit": unit})
        for key, msgid in _CREDIT_WORDS.items()
    }
    return (
        # Focusable: when it scrolls, a keyboard can scroll it (WCAG 2.1.1).
        '<aside class="gs-side" id="gs-credit" tabindex="0" aria-labelledby="gs-credit-title">'
        f'<h2 id="gs-credit-title">{words["title"]}</h2>'
        f"<table><tr><th>{words['pair']}</th><th>{words['parcels']}</th>"
        f"<th>{words['verified']}</th></tr>{pairs}</table>"
        f"<h3>{words['scores']}</h3>"
        f"<table><tr><th>{words['township']}</th><th>{words['host']}</th>"
        f"<th>{words['helper']}</th></tr>{''.join(rows)}</table>"
        f'<p class="gs-note">{words["note"]}</p>'
        "</aside>"
    )


# The support map's credit table beside the map.
_NO_SUPPORT = N_("No cross-township support recorded yet")
_CREDIT_WORDS = {
    "title": N_("%(district)s cross-township support"),
    "pair": N_("Helper → host"),
    "parcels": N_("Parcels"),
    "verified": N_("Verified (%(unit)s)"),
    "scores": N_("Township scores (verified, %(unit)s)"),
    "township": N_("Township"),
    "host": N_("As host"),
    "helper": N_("Helping others"),
    "note": N_(
        "As host: the township's own parcels; helping others: other townships' parcels it "
        "helped with (the two are not added up)."
    ),
}
