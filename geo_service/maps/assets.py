"""The browser assets the map pages and the API docs need, served by geo_service itself.

Leaflet and Leaflet.VectorGrid (and Swagger UI and ReDoc for /docs and /redoc) come from
the npm registry at set-up time
(`npm ci --prefix geo_service/maps/vendor`, run by scripts/bootstrap.sh) into
`vendor/node_modules`, which is not committed. The service serves that folder at
`/static/vendor` (see `static_app`), so a page never asks a CDN; `inline_html()` puts
the same files into one self-contained HTML file that opens with no network at all.

folium's own defaults (jQuery, Bootstrap, Font Awesome, awesome-markers) are not used:
GeoJson layers, GeoJsonTooltip/GeoJsonPopup, Tooltip, LayerControl and the scale bar need
Leaflet only. folium elements that do need jQuery (`folium.Popup`, also made by
`popup="..."` arguments, `Map.keep_in_front`, `GeoJson(embed=False)`) are refused by
`check_map`, as are any other links to remote hosts.
"""

import base64
import hashlib
import json
import mimetypes
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from geo_service.errors import GeoServiceError

VENDOR_DIR = Path(__file__).parent / "vendor"
NODE_MODULES = VENDOR_DIR / "node_modules"
STATIC_PREFIX = "/static/vendor"
INSTALL_HINT = (
    "run `geo-service assets install` (npm ci from the npm registry; scripts/bootstrap.sh "
    "does it), or install a wheel built with the assets"
)


class AssetsMissing(GeoServiceError):
    """The npm-installed files are not there: the map pages cannot be drawn."""


class RemoteAsset(GeoServiceError):
    """A folium element would make the browser fetch something from outside the service."""


@dataclass(frozen=True)
class Asset:
    name: str  # folium's resource name, so ours replaces its CDN link of the same name
    path: str  # under node_modules, and under STATIC_PREFIX in URLs
    kind: str  # "js", "css" or "image" (images are referenced from the CSS)

    @property
    def package(self) -> str:
        parts = self.path.split("/")
        # A scoped npm package (@geoman-io/leaflet-geoman-free) is two folders deep.
        return "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]


# The one list of what the pages load, in load order. Leaflet's images are the ones
# leaflet.css names (layer control) and Icon.Default uses (markers).
ASSETS = (
    Asset("leaflet", "leaflet/dist/leaflet.js", "js"),
    Asset("leaflet_css", "leaflet/dist/leaflet.css", "css"),
    Asset("vectorGrid", "leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js", "js"),
    Asset("layers", "leaflet/dist/images/layers.png", "image"),
    Asset("layers-2x", "leaflet/dist/images/layers-2x.png", "image"),
    Asset("marker-icon", "leaflet/dist/images/marker-icon.png", "image"),
    Asset("marker-icon-2x", "leaflet/dist/images/marker-icon-2x.png", "image"),
    Asset("marker-shadow", "leaflet/dist/images/marker-shadow.png", "image"),
)
OPTIONAL = {"vectorGrid"}  # left out with vectorgrid=False
# The API docs (/docs, /redoc): Swagger UI and ReDoc from the same npm install.
DOCS_ASSETS = (
    Asset("swagger_js", "swagger-ui-dist/swagger-ui-bundle.js", "js"),
    Asset("swagger_css", "swagger-ui-dist/swagger-ui.css", "css"),
    Asset("swagger_favicon", "swagger-ui-dist/favicon-32x32.png", "image"),
    Asset("redoc_js", "redoc/bundles/redoc.standalone.js", "js"),
)
# The field app (/field/): drawing an outline on the map (leaflet-geoman), on top of ASSETS.
FIELD_ASSETS = (
    Asset("geoman_js", "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js", "js"),
    Asset("geoman_css", "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css", "css"),
)
# Photos taken on site (web/static/field_photos.js): their EXIF time and GPS read on the phone.
PHOTO_ASSETS = (Asset("exifr", "exifr/dist/lite.umd.js", "js"),)
SERVED_PATHS = frozenset(a.path for a in (*ASSETS, *DOCS_ASSETS, *FIELD_ASSETS, *PHOTO_ASSETS))


def install() -> str:
    """Fetch the pinned assets from the npm registry into NODE_MODULES (package-lock.json
    fixes every version); for installs whose wheel was built without them."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsMissing(
            "npm not found: install Node's npm (Debian: apt-get install npm) and run "
            "`geo-service assets install` again, or install a wheel built with the assets"
        )
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(VENDOR_DIR)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise AssetsMissing(f"npm ci failed: {message[-1] if message else done.returncode}")
    check_installed()
    return f"map assets installed under {NODE_MODULES}"


def _selected(kind: str, vectorgrid: bool) -> list[Asset]:
    return [a for a in ASSETS if a.kind == kind and (vectorgrid or a.name not in OPTIONAL)]


def check_installed(assets=ASSETS) -> None:
    missing = [a.path for a in assets if not (NODE_MODULES / a.path).is_file()]
    if missing:
        raise AssetsMissing(
            f"browser assets missing under {NODE_MODULES} ({', '.join(missing)}): {INSTALL_HINT}"
        )


@cache
def _version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    return json.loads(manifest.read_text(encoding="utf-8"))["version"]


def url(asset: Asset, prefix: str = STATIC_PREFIX) -> str:
    """The asset's URL on the service; `?v=` changes with the installed version (caching)."""
    return f"{prefix.rstrip('/')}/{asset.path}?v={_version(asset.package)}"


def default_js(prefix: str = STATIC_PREFIX, vectorgrid: bool = True) -> list[tuple[str, str]]:
    """For `folium.Map.default_js` (on the instance): local Leaflet (+ VectorGrid)."""
    check_installed()
    return [(a.name, url(a, prefix)) for a in _selected("js", vectorgrid)]


def default_css(prefix: str = STATIC_PREFIX) -> list[tuple[str, str]]:
    """For `folium.Map.default_css` (on the instance): local leaflet.css."""
    check_installed()
    return [(a.name, url(a, prefix)) for a in _selected("css", True)]


def use_local_assets(fmap, prefix: str = STATIC_PREFIX, vectorgrid: bool = True):
    """Points a folium map at the service's own assets (instead of folium's CDNs)."""
    fmap.default_js = default_js(prefix, vectorgrid)
    fmap.default_css = default_css(prefix)
    return fmap


# ---------------------------------------------------------------- self-contained export

_SOURCE_MAP = re.compile(r"^\s*/[/*]# sourceMappingURL=.*$", re.MULTILINE)
_CSS_URL = re.compile(r"""url\((['"]?)(?!data:|#|[a-z]+://|/)([^'")]+)\1\)""")


@dataclass(frozen=True)
class InlineAssets:
    js: list[tuple[str, str]]  # (name, source)
    css: list[tuple[str, str]]  # (name, stylesheet with its images as data: URIs)
    images: dict[str, str]  # asset name -> data: URI

    def html(self) -> str:
        """<style> and <script> tags for a page's <head>; the page then needs no network."""
        parts = [f"<style>{_no_close(text, 'style')}</style>" for _, text in self.css]
        parts += [f"<script>{_no_close(text, 'script')}</script>" for _, text in self.js]
        # Icon.Default finds its images next to leaflet.css; inline, there is no such path.
        icons = {
            "iconUrl": self.images["marker-icon"],
            "iconRetinaUrl": self.images["marker-icon-2x"],
            "shadowUrl": self.images["marker-shadow"],
        }
        parts.append(
            "<script>L.Icon.Default.imagePath = '';"
            f"L.Icon.Default.mergeOptions({json.dumps(icons)});</script>"
        )
        return "\n".join(parts)


def _no_close(text: str, tag: str) -> str:
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


@cache
def inline_assets(vectorgrid: bool = True) -> InlineAssets:
    """The assets' contents, for a page saved as one file (e.g. to open from a USB stick)."""
    check_installed()
    images = {a.name: _data_uri(NODE_MODULES / a.path) for a in _selected("image", True)}
    by_path = {a.path: images[a.name] for a in _selected("image", True)}

    def inline_css(asset: Asset) -> str:
        text = (NODE_MODULES / asset.path).read_text(encoding="utf-8")
        folder = asset.path.rsplit("/", 1)[0]

        def replace(match: re.Match) -> str:
            target = f"{folder}/{match.group(2)}"
            if target not in by_path:
                raise AssetsMissing(f"{asset.path} refers to {target}, not in assets.ASSETS")
            return f'url("{by_path[target]}")'

        return _SOURCE_MAP.sub("", _CSS_URL.sub(replace, text))

    js = [
        (a.name, _SOURCE_MAP.sub("", (NODE_MODULES / a.path).read_text(encoding="utf-8")))
        for a in _selected("js", vectorgrid)
    ]
    css = [(a.name, inline_css(a)) for a in _selected("css", True)]
    return InlineAssets(js=js, css=css, images=images)


def inline_html(vectorgrid: bool = True) -> str:
    """`inline_assets().html()`: put it in the page head, with folium's default_js/css = []."""
    return inline_assets(vectorgrid).html()


# ---------------------------------------------------------------- checking a folium map


# folium templates that call jQuery's `$`: Popup (`$(`...`)[0]`), Map.keep_in_front
# (`$(document).ready`), GeoJson(embed=False) (`$.ajax`). Nothing else in folium's core
# templates does; GeoJsonPopup, GeoJsonTooltip and Tooltip are plain Leaflet.
def _needs_jquery(element) -> str | None:
    import folium

    if isinstance(element, folium.Popup):
        return "folium.Popup (use GeoJsonPopup, a Tooltip, or bindPopup in your own script)"
    if isinstance(element, folium.Map) and getattr(element, "objects_to_stay_in_front", None):
        return "Map.keep_in_front"
    if isinstance(element, folium.GeoJson) and not element.embed:
        return "GeoJson(embed=False)"
    return None


def _walk(element):
    from branca.element import Element

    yield element
    parts = [getattr(element, part, None) for part in ("header", "html", "script")]  # Figure
    for child in [*(p for p in parts if isinstance(p, Element)), *element._children.values()]:
        yield from _walk(child)


def _links(element) -> list[tuple[str, str]]:
    links = [*getattr(element, "default_js", []), *getattr(element, "default_css", [])]
    if isinstance(getattr(element, "url", None), str):  # JavascriptLink, CssLink
        links.append((type(element).__name__, element.url))
    return links


def check_map(fmap) -> None:
    """Refuses a folium map whose page would fetch from outside the service or need jQuery.

    Call it after the last layer was added, before rendering.
    """
    problems = []
    for element in _walk(fmap.get_root()):
        reason = _needs_jquery(element)
        if reason:
            problems.append(f"{reason} needs jQuery, which the map pages do not load")
        for name, link in _links(element):
            if re.match(r"^([a-z]+:)?//", link):
                problems.append(f"{type(element).__name__} links {name} from {link}")
    if problems:
        raise RemoteAsset("; ".join(problems))


# ---------------------------------------------------------------- serving

LONG_CACHE = "public, max-age=31536000, immutable"


@cache
def _digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def own_url(prefix: str, directory: Path, name: str) -> str:
    """The URL of one of the service's own static files, `?v=` its content's hash: a
    browser keeps it for a year and asks again as soon as the file changes."""
    path = directory / name
    return f"{prefix.rstrip('/')}/{name}?v={_digest(path, path.stat().st_mtime_ns)}"


def own_static_app(directory: Path):
    """The ASGI app serving the service's own CSS, JS and images: a year's cache for URLs
    made by `own_url` (they change with the file), a check with the server otherwise."""
    from starlette.staticfiles import StaticFiles

    class OwnFiles(StaticFiles):
        async def get_response(self, path, scope):
            response = await super().get_response(path, scope)
            if response.status_code in (200, 304):
                versioned = b"v=" in scope.get("query_string", b"")
                response.headers["Cache-Control"] = LONG_CACHE if versioned else "no-cache"
            return response

    return OwnFiles(directory=directory)


def static_app():
    """The ASGI app for `app.mount(STATIC_PREFIX, ...)`: the listed files only, cached long."""
    from starlette.exceptions import HTTPException
    from starlette.staticfiles import StaticFiles

    class VendorFiles(StaticFiles):
        async def get_response(self, path, scope):
            if path.replace("\\", "/") not in SERVED_PATHS:
                raise HTTPException(status_code=404)
            response = await super().get_response(path, scope)
            if response.status_code in (200, 304):
                # URLs carry ?v=<version>; images (named from leaflet.css) do not.
                versioned = b"v=" in scope.get("query_string", b"")
                response.headers["Cache-Control"] = (
                    LONG_CACHE if versioned else "public, max-age=86400"
                )
            return response

    return VendorFiles(directory=NODE_MODULES, check_dir=False)
