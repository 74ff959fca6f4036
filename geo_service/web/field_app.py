"""The field app (现场核验): an installable web app for the verification teams on site.

`/field/` is the app's one page (templates/field.html, static/field.js and field.css), on
top of the same API as everything else: GET /api/field/bundle for the work it keeps on the
phone, the workflow endpoints (with an Idempotency-Key and the position) for sign-offs and
disputes, and POST /api/uploads for a captured outline, checked like any file.

What makes it installable and usable without a signal is served here too: the web app
manifest, the icons, and the service worker (`/field/sw.js`, scope /field/), which keeps
the page, its scripts and styles and the vendored Leaflet/leaflet-geoman files in the
browser's cache. The manifest, the icons and the worker are public: a browser fetches them
without the session cookie; they hold no data.
"""

import hashlib
import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from geo_service.api.auth import PageUser
from geo_service.maps import assets
from geo_service.maps.words import NUMBER_LOCALE
from geo_service.settings import get_settings
from geo_service.web.i18n import N_, choose, translations
from geo_service.web.login import render
from geo_service.web.problems import STATUS_LABELS
from geo_service.web.templates import STATIC_DIR, asset

SCOPE = "/field/"
# High contrast in sunlight: black on white, one strong colour for the bar and the icon.
THEME = "#0b3d91"
ICON_SIZES = (192, 512)
# Every msgid field.js asks t() for (cfg.words); a word missing here shows as its msgid.
SCRIPT_WORDS = (
    N_("Field verification"), N_("Online"), N_("Offline"), N_("never"),
    N_("Township outlines"), N_("Parcels"), N_("Verification queue"),
    N_("%(what)s: brought up to date %(when)s"),
    N_("No position yet"), N_("Position ±%(m)s m"),
    N_("This page may not use the phone's position"), N_("The phone has no position fix"),
    N_("No position fix yet"), N_("no signal"),
    N_("You stand in parcel %(code)s"), N_("You stand in no parcel of yours"),
    N_("Choose a parcel on the map or in the queue"),
    N_("Parcel %(code)s · %(township)s · %(status)s · %(mu)s mu"),
    N_("%(m)s m inside its boundary"), N_("%(m)s m outside its boundary"),
    N_("Note (what was checked)"), N_("Dispute reason"), N_("Verify"), N_("Dispute"),
    N_("A dispute needs a reason"), N_("Waiting to be sent"), N_("Sending…"),
    N_("Stored"), N_("Conflict: the parcel changed meanwhile; nothing was overwritten"),
    N_("Refused: %(why)s"), N_("Not sent yet: %(why)s"), N_("Send now"),
    N_("Nothing waits to be sent."), N_("Queued: %(what)s"),
    N_("verify %(code)s"), N_("dispute %(code)s"), N_("outline %(code)s"),
    N_("Capture an outline"), N_("Walk"), N_("Draw"), N_("Add a stake here"),
    N_("Undo the last stake"), N_("Start again"), N_("%(n)s stakes"),
    N_("%(m2)s m² · %(mu)s mu"),
    N_("Fix refused: ±%(m)s m is worse than %(max)s m; wait for a better fix"),
    N_("No good fix within %(s)s seconds: try again"),
    N_("Stake %(n)s added: the mean of %(fixes)s fixes, ±%(m)s m"),
    N_("Draw the outline on the map: tap each corner, then the first one again"),
    N_("Parcel code"), N_("Kind"), N_("Township"), N_("land delivery"), N_("demolition"),
    N_("Send for checking"), N_("An outline needs three stakes or more"),
    N_("Give the new parcel a code"), N_("%(n)s parcels stored"),
    N_("planned"), N_("in progress"), N_("delivered"), N_("demolished"), N_("verified"),
    N_("disputed"), N_("Sent to the queue; it goes as soon as there is a signal"),
    N_("Map"), N_("Actions"), N_("To send"), N_("mu"), N_("photo of %(code)s"),
    N_("status of %(code)s"),
    N_("%(n)s photos go with the next action"), N_("its action was not stored"),
    N_("Photos cannot be sent from this page"),
)  # fmt: skip


def script_words(locale: str) -> dict[str, str]:
    _ = translations(locale).gettext
    return {word: _(word) for word in SCRIPT_WORDS}


def vendor_files() -> dict:
    """Leaflet, leaflet-geoman and (with the photos module) exifr, from the service's own
    npm install: everything the app uses, which the service worker keeps."""
    assets.check_installed((*assets.ASSETS, *assets.FIELD_ASSETS))
    page = page_files()
    js, css = list(page["js"]), list(page["css"])
    extras = (*assets.FIELD_ASSETS, *(assets.PHOTO_ASSETS if has_photos() else ()))
    for extra in extras:
        (js if extra.kind == "js" else css).append(assets.url(extra))
    images = [f"{assets.STATIC_PREFIX}/{a.path}" for a in assets.ASSETS if a.kind == "image"]
    return {"js": js, "css": css, "images": images}


def page_files() -> dict:
    """What the page itself links: Leaflet only. On a weak signal the page is usable once
    these have come; what draws and what reads photos is fetched when first needed
    (on_demand), from the worker's cache once it has kept them."""
    return {
        "js": [u for _, u in assets.default_js(vectorgrid=False)],
        "css": [u for _, u in assets.default_css()],
    }


def on_demand() -> dict:
    """leaflet-geoman (84 KB gzipped), when the user first draws; exifr and the photos
    module (18 KB), when the first photo is taken."""
    by_kind = {a.kind: assets.url(a) for a in assets.FIELD_ASSETS}
    photos = [assets.url(a) for a in assets.PHOTO_ASSETS] + [asset("field_photos.js")]
    return {
        "drawing": {"js": [by_kind["js"]], "css": [by_kind["css"]]},
        "photos": {"js": photos if has_photos() else [], "css": []},
    }


def has_photos() -> bool:
    """The photos module (camera, EXIF, resizing on the phone) is there to load."""
    return (STATIC_DIR / "field_photos.js").is_file()


def shell_urls() -> list[str]:
    """What the service worker keeps: the page and everything it loads."""
    vendor = vendor_files()
    own = [asset("field.css"), asset("field.js"), asset("favicon.ico")]
    if has_photos():
        own.append(asset("field_photos.js"))
    return [SCOPE, *own, *vendor["css"], *vendor["js"], *vendor["images"]]


def _config(request: Request, who) -> dict:
    settings = get_settings()
    locale = choose(request)
    return {
        "words": script_words(locale),
        "number_locale": NUMBER_LOCALE[locale],
        # Compact parcels: a fifth of GeoJSON's bytes (field.js reads them back).
        "bundle_url": "/api/field/bundle?parcels=compact",
        "on_demand": on_demand(),
        "upload_url": "/api/uploads",
        "sw_url": f"{SCOPE}sw.js",
        "scope": SCOPE,
        "user": who.username,
        "kinds": sorted(who.kinds) or ["land", "demolition"],
        "max_accuracy_m": settings.field_max_accuracy_m,
        "fixes_per_stake": settings.field_fixes_per_stake,
    }


def _worker_source() -> str:
    """field_sw.js with what to keep, and a cache name that changes with any of it (so a
    new release replaces the old files)."""
    urls = shell_urls()
    version = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:16]
    head = f'const SHELL = {json.dumps(urls)};\nconst CACHE = "field-{version}";\n'
    return head + (STATIC_DIR / "field_sw.js").read_text(encoding="utf-8")


def manifest(request: Request) -> dict:
    _ = translations(choose(request)).gettext
    return {
        "name": _("Field verification"),
        "short_name": _("Field verification"),
        "description": _("Verify, dispute and capture parcels on site, with or without a signal."),
        "lang": "zh-CN" if choose(request) == "zh_CN" else "en",
        "start_url": SCOPE,
        "scope": SCOPE,
        "id": SCOPE,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {
                "src": asset(f"field-icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in ICON_SIZES
        ],  # fmt: skip
    }


def field_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/field")
    def to_scope():
        # The worker's scope is /field/: only pages under it work without a signal.
        return RedirectResponse(SCOPE, status_code=308)

    @router.get(SCOPE, response_class=HTMLResponse)
    def field_page(request: Request, who: PageUser):
        return render(
            request, "field.html", user=who, cfg=_config(request, who), vendor=page_files(),
            theme=THEME, photos=has_photos(), status_label=STATUS_LABELS,
            photo_edge=get_settings().photo_display_edge,
        )  # fmt: skip

    @router.get(f"{SCOPE}manifest.webmanifest")
    def get_manifest(request: Request):
        return Response(
            json.dumps(manifest(request), ensure_ascii=False),
            media_type="application/manifest+json",
            headers={"Cache-Control": "no-cache"},
        )

    @router.get(f"{SCOPE}sw.js")
    def get_worker():
        # Asked again at every visit (no-cache), so a new release reaches the phones.
        return Response(
            _worker_source(),
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": SCOPE},
        )

    return router
