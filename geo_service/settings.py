"""All configuration in one place, read from the environment (and an optional .env file)."""

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Reference and demo data ship inside the package (a wheel works without the repository).
DATA_DIR = Path(str(resources.files("geo_service") / "data"))


# Amap/AutoNavi, Tencent and Google China use GCJ-02; Baidu uses BD-09.
SHIFTED_BASEMAP_HOSTS = (
    "autonavi.com",
    "amap.com",
    "map.qq.com",
    "gtimg.com",
    "google.cn",
    "baidu.com",
    "bdimg.com",
)


def _cores() -> int:
    """The cores this process may run on (fewer than the machine's under taskset/cgroups)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@dataclass
class Tolerances:
    """How much the checks tolerate: configuration, so it lives here and validation reads it."""

    repair_share: float = 0.01  # area change a make_valid repair may cause
    declared_share: float = 0.005  # declared vs computed area (GK planar vs geodesic: 0.01%)
    outside_township_share: float = 0.01  # warned
    outside_exact_township_share: float = 0.05  # refused, when the outline is exact
    outside_district_share: float = 0.5  # refused: mostly in another district
    elsewhere_township_share: float = 0.5  # refused: credited to the wrong township
    overlap_min_m2: float = 1.0  # slivers below this are digitising noise, not overlaps
    outside_city_deg: float = 0.005  # ~500 m: web-map city outlines are good to tens of metres


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # A plain libpq URL works too: database.normalise_url adds the driver.
    database_url: str = Field(default="postgresql+psycopg://postgres@127.0.0.1:5432/geo_service")
    # A streaming replica of it (docs/scaling.md): the GET reads of maps, tiles, tallies and
    # parcels go there; writes, reads inside a write and sign-ins stay on DATABASE_URL.
    # Unset, everything goes to DATABASE_URL. A replica that cannot be reached is skipped
    # (reads go to the primary, logged) and tried again after REPLICA_RETRY_SECONDS; the
    # connect timeout bounds what one such attempt costs a request.
    database_replica_url: str | None = None
    replica_connect_timeout: int = 2
    replica_retry_seconds: float = 5.0
    reference_dir: Path = DATA_DIR / "reference"
    max_upload_bytes: int = 200 * 1024 * 1024
    # The service's own role (see roles.py): `db upgrade` grants it after migrating.
    app_role: str | None = None
    # Who is recorded on changes when the caller does not say (CLI user, API without auth).
    default_actor: str = "geo-service"
    page_size_max: int = 5000
    # A worker sends a parcel page (and a first page's count) asked for again from memory
    # for up to this many seconds while no parcel changes, and remembers the demo banner's
    # answer as long (web/login.py); 0 turns that off, so that what a page costs when read
    # afresh can be measured (scripts/bench_web.py).
    parcel_page_memory_seconds: float = Field(default=10.0, ge=0, le=60)
    # The year shown when no campaign is on record; with campaigns, the one under way
    # today (else the latest) is shown (campaign/campaigns.py).
    campaign_year: int = 2017
    # A sign-off or status change may be dated back (核验日期) this many days by its team;
    # further back only an admin records it (an import in migration mode).
    backdate_window_days: int = 90
    # Maps: the district a map opens on; above this many parcels they come as vector tiles.
    default_district: str = "晋安区"
    map_tile_threshold: int = 3000
    # Optional basemap (an intranet tile server, or Tianditu with its key in the URL). It must
    # be in WGS84/CGCS2000 coordinates: never a GCJ-02 basemap (Amap, Tencent) under parcels.
    basemap_url: str | None = None
    basemap_attribution: str = "底图"
    # Where the workers of a host keep the overview tiles any of them drew (maps/tile_store.py),
    # a folder of this user's alone; unset, geo-service-cache-<uid> in the temporary directory.
    cache_dir: Path | None = None

    # Edges of what a request or a file may ask for: beyond them a clear 4xx, never a 500.
    year_min: int = 1990
    year_max: int = 2100
    max_vertices_per_parcel: int = 20_000
    max_features_per_file: int = 50_000
    # Features read, checked and staged at a time by an import: its memory follows this,
    # not the file's size. 10,000 rather than 20,000: 18 MiB less at the peak of an
    # import of 100,000 parcels, in the same time.
    import_batch_features: int = 10_000
    max_json_depth: int = 64
    # Text a person writes (texts.py): notes and reasons, and names (users, projects,
    # households, parcels) at most this many characters; longer is refused, never cut.
    note_max_chars: int = Field(default=2000, ge=1)
    name_max_chars: int = Field(default=200, ge=1)
    # A request's temporary folders (geo-upload-<pid>-..., scratch.py) older than this are
    # removed, whoever made them; a dead worker's go at once, at the next start-up.
    scratch_max_age_minutes: int = Field(default=360, ge=1)
    # 南方CASS drawings: the layers whose closed polylines are parcels, and the layers of
    # the code text placed inside them (comma separated; --layer replaces the first).
    cass_parcel_layers: str = "JZX,界址线,宗地,ZD,ZDX,宗地界线"
    cass_code_layers: str = "ZDH,宗地号,ZDBH,宗地编号"
    # An outline's extended data (XDATA) under one of these applications: its first string
    # is the code, before any text inside the outline.
    cass_code_xdata_apps: str = "ZDH,ZDBH,宗地号"
    # Operations: LOG_FORMAT=json gives one JSON object per line; CORS_ORIGINS is a comma
    # separated list of origins allowed to call the API from a browser (none by default).
    log_format: str = "plain"
    log_level: str = "INFO"
    cors_origins: str = ""

    # The field app (/field): a GNSS fix less accurate than this (metres, as the phone
    # reports it) is refused as a stake of a walked outline; each stake averages this many
    # fixes. An Idempotency-Key's stored answer is kept this many days.
    field_max_accuracy_m: float = Field(default=5.0, gt=0)
    field_fixes_per_stake: int = Field(default=3, ge=1, le=50)
    idempotency_keep_days: int = Field(default=30, ge=1)

    @field_validator("basemap_url")
    @classmethod
    def _not_shifted(cls, url: str | None) -> str | None:
        # Parcels are CGCS2000: under a GCJ-02 or BD-09 basemap they would sit ~600 m off.
        if url and any(host in url.lower() for host in SHIFTED_BASEMAP_HOSTS):
            raise ValueError(
                f"{url} serves GCJ-02/BD-09 tiles, which are offset from CGCS2000 parcels; "
                "use Tianditu (天地图) or an intranet server in WGS84/CGCS2000"
            )
        return url

    # Relocation: the key of the hash national ID numbers are kept as (never stored in the
    # database); the days after the promised hand-over by which a title is due when a
    # roster gives no certificate deadline (办证期限).
    relocation_id_secret: str | None = None
    relocation_title_days: int = 365

    # Accounts: browser sessions and API tokens expire. COOKIE_SECURE marks the session
    # cookie Secure (set it behind TLS).
    session_minutes: int = 12 * 60
    api_token_minutes: int = 60
    password_min_length: int = 10
    # Sign-in under attack (docs/security.md#sign-in-under-attack). Attempts are counted
    # per user name *and* client address, before the password is checked: after
    # LOGIN_MAX_FAILURES the pair waits LOGIN_DELAY_SECONDS, doubled at each further
    # failure up to LOGIN_LOCKOUT_MINUTES; a pair quiet for LOGIN_WINDOW_MINUTES starts
    # afresh.
    login_max_failures: int = Field(default=5, ge=1)
    login_delay_seconds: float = Field(default=30, gt=0)
    login_lockout_minutes: float = Field(default=15, gt=0)
    login_window_minutes: float = Field(default=60, gt=0)
    # Each argon2 check takes 64 MiB and a core for tens of milliseconds: a worker runs at
    # most PASSWORD_CHECKS at once (default: one per core), keeps PASSWORD_CHECK_QUEUE
    # more waiting, and answers any further sign-in 503 with Retry-After.
    password_checks: int = Field(default_factory=lambda: _cores(), ge=1)
    password_check_queue: int = Field(default=32, ge=0)
    password_busy_retry_seconds: int = Field(default=2, ge=1)
    # Reverse proxies (addresses or networks, e.g. ["10.0.0.5", "10.1.0.0/16"]) whose
    # X-Forwarded-For / X-Forwarded-Proto are believed. None by default: the client
    # address is the peer's, whatever a request's headers claim.
    trusted_proxies: list[str] = Field(default_factory=list)
    # A worker remembers a token it has resolved for this many seconds (0: never), so a
    # read does not cost a lookup. A revocation, a disabled user or a changed role (each
    # revokes the user's tokens) takes effect at once in the worker that made it, and in
    # the other workers within this many seconds.
    token_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    # The most connections one worker opens to DATABASE_URL through each of its two pools
    # (the ORM's and read_rows'), ten of them kept open. `serve --workers N` lowers it when
    # N workers could open more than the server's max_connections (docs/operations.md).
    database_pool_max: int = Field(default=40, ge=1, le=1000)
    cookie_secure: bool = False
    # `geo-service serve` over HTTPS (docs/operations.md, Serving over TLS): the
    # certificate (PEM, with its chain) and its private key. Over HTTPS the session cookie
    # is Secure whatever COOKIE_SECURE says (api/auth.py).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    # Hosts (host[:port]) besides the service's own whose pages may post with the cookie,
    # e.g. the public name a reverse proxy serves it under.
    trusted_origins: list[str] = Field(default_factory=list)
    # The first admin's password for `db upgrade` (else one is generated and printed once).
    admin_password: str | None = Field(default=None, validation_alias="GEO_SERVICE_ADMIN_PASSWORD")

    # Photos of parcels (parcels/photos.py): each file sent (the phone's photo, the camera's
    # original) at most PHOTO_MAX_BYTES and PHOTO_MAX_PIXELS (larger is refused: a small
    # file may unpack to gigabytes of pixels); the display size's long edge, which the
    # phone resizes to before sending (sent to the page), and the thumbnail's.
    photo_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    photo_max_pixels: int = Field(default=60_000_000, ge=1)
    photo_display_edge: int = Field(default=1600, ge=64, le=8192)
    photo_thumb_edge: int = Field(default=320, ge=32, le=1024)

    # Checks on uploads (shares are fractions: 0.01 = 1%).
    repair_tolerance: float = 0.01
    declared_area_tolerance: float = 0.005
    outside_township_tolerance: float = 0.01
    # Beyond this share outside an imported (exact) township outline a parcel is refused;
    # beyond half outside its district (real outline) it is refused whatever the township.
    outside_exact_township_tolerance: float = 0.05
    outside_district_tolerance: float = 0.5
    # Beyond this share outside the declared township (even an approximate outline) a parcel
    # would be credited to the wrong township: refused, naming where it lies, unless a
    # verifier of its kind stores it with an override reason. 1 switches the rule off.
    elsewhere_township_tolerance: float = Field(default=0.5, gt=0, le=1)
    overlap_min_m2: float = 1.0

    def year_ok(self, year: int) -> bool:
        return self.year_min <= year <= self.year_max

    @property
    def years(self) -> str:
        return f"{self.year_min} to {self.year_max}"

    @property
    def year_figures(self) -> dict:
        """The window as a refusal's figures: `years` for its English message, the first and
        last year for the words of any language."""
        return {"years": self.years, "first": self.year_min, "last": self.year_max}

    def tolerances(self) -> Tolerances:
        return Tolerances(
            repair_share=self.repair_tolerance,
            declared_share=self.declared_area_tolerance,
            outside_township_share=self.outside_township_tolerance,
            outside_exact_township_share=self.outside_exact_township_tolerance,
            outside_district_share=self.outside_district_tolerance,
            elsewhere_township_share=self.elsewhere_township_tolerance,
            overlap_min_m2=self.overlap_min_m2,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
