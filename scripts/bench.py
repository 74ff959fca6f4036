#!/usr/bin/env python
"""geo_service beside its references, each path interleaved with its reference in the
same run; prints medians and ratios and writes docs/benchmarks.md.

    .venv/bin/python scripts/bench.py            # 10,000 and 100,000 parcels
    .venv/bin/python scripts/bench.py --full     # and 1,000,000

It generates its own data (valid, non-overlapping parcels in a GeoPackage in EPSG:4549,
as a survey office hands them over), uses its own database (BENCH_DATABASE_URL, default
geo_service_bench on the local server, dropped first) and needs `ogr2ogr` (Debian's
gdal-bin) and `wrk`; tipg is compared when a virtual environment with it is given by
TIPG_VENV (python3 -m venv /tmp/tipg && /tmp/tipg/bin/pip install tipg uvicorn).
Not part of the test suite.
"""

import argparse
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo_service import database, reference  # noqa: E402
from geo_service.accounts import users  # noqa: E402
from geo_service.campaign import projects, tallies  # noqa: E402

VENV_BIN = Path(sys.executable).parent
# The checkout this script sits in (run from ROOT, so a git worktree benchmarks its own
# code rather than the one installed as the console script).
GEO_SERVICE = [sys.executable, "-m", "geo_service.cli"]
CENTRE = (119.300, 26.150)  # inside 新店镇
TOWNSHIP = "新店镇"
YEAR = datetime.now(UTC).year  # imports verify "now": tally the current campaign year
# Who the benchmark acts as: the land verifier of the township imports (an upload with
# --status verified is a verification), the city's leader reads (every district, as the
# full recomputation it is compared with).
WRITER, READER = "bench_verifier", "bench_leader"
PROJECTS = 100
# How the tallies' rows name the data with overlapping re-surveys.
RESURVEYED = ", 0.2% re-surveyed over their neighbours"
# The bearer token the served paths send (set once the database is made).
HEADERS: dict = {}


def main() -> None:
    args = _arguments()
    sizes = [10_000, 100_000] + ([1_000_000] if args.full else [])
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    url = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/geo_service_bench"
    )
    _fresh_database(url)
    work = Path(tempfile.mkdtemp(prefix="geo_service_bench_"))
    results, notes = [], []
    started = time.time()
    try:
        for size in sizes:
            path = _grid(work / f"grid_{size}.gpkg", size)
            runs = args.runs if size <= 100_000 else 1
            if "import" in args.only or "served" in args.only:
                # The served paths read what the import stored.
                results += _imports(url, path, size, runs if "import" in args.only else 1)
            if "served" in args.only:
                results += _served(url, size, path, work, notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.time() - started
    table = _table(results)
    print(table)
    print(f"\n{elapsed / 60:.1f} min")
    if args.output:
        _write_doc(Path(args.output), table, notes, sizes, elapsed, url)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 1,000,000 parcels")
    parser.add_argument("--sizes", help="comma-separated parcel counts instead, e.g. 2000")
    parser.add_argument("--runs", type=int, default=3, help="runs of each import (median)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--only",
        default="import,served",
        help="while working on one path: 'import' or 'served' (pass --output '' too)",
    )
    return parser.parse_args()


# --- data ---------------------------------------------------------------------------


def _grid(path: Path, count: int) -> Path:
    """`count` squares in rows in GK CM 120E: 10 m with 2 m gaps (2 m with 1 m past 100k:
    a million 4 m squares reached 岳峰镇, and the import refused them as its parcels)."""
    size, gap = (10.0, 2.0) if count <= 100_000 else (2.0, 1.0)
    x0, y0 = Transformer.from_crs(4490, 4549, always_xy=True).transform(*CENTRE)
    side = math.ceil(math.sqrt(count))
    pitch = size + gap
    k = np.arange(count)
    west = x0 - side * pitch / 2 + (k % side) * pitch
    south = y0 - side * pitch / 2 + (k // side) * pitch
    codes = np.char.add("B-", np.char.zfill(k.astype(str), 7))
    # Each band of rows one of PROJECTS projects, as a district's parcels belong to its
    # projects (the tally by project has something to group).
    projects = np.char.add("P-", np.char.zfill((k // side * PROJECTS // side).astype(str), 3))
    frame = gpd.GeoDataFrame(
        {"code": codes, "project": projects},
        geometry=shapely.box(west, south, west + size, south + size),
        crs=4549,
    )
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    return path


def _fresh_database(url: str) -> None:
    database.drop_database(url)
    database.migrate(url)
    with database.session_scope(url) as session:
        reference.load_reference(session)
        password = "bench-" + os.urandom(8).hex()
        users.create_user(session, WRITER, password=password, by="bench", role="verifier",
                             group="土地核验组", townships=[TOWNSHIP])  # fmt: skip
        users.create_user(session, READER, password=password, by="bench", role="leader")
        _projects(session)
        reader = users.acting_user(session, READER)
        token = users.issue_token(session, reader, "api", 24 * 60)
    HEADERS["Authorization"] = f"Bearer {token}"


def _projects(session) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "projects.csv"
        lines = [f"P-{i:03d},项目{i},征迁交地,晋安区" for i in range(PROJECTS)]
        path.write_text("code,name,category,district\n" + "\n".join(lines), encoding="utf-8")
        projects.import_projects(session, path)


def _empty(url: str) -> None:
    with database.get_engine(url).begin() as conn:
        # History refuses TRUNCATE by trigger (migration 0023): the owner empties the
        # bench's scratch database with triggers off.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        # parcel_features has no key to cascade from (its delete trigger is off here).
        tables = "parcel_support, parcel_versions, parcel_features, parcels, tally_totals, uploads"
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        conn.execute(text("SET LOCAL session_replication_role = origin"))
        conn.execute(text("DROP TABLE IF EXISTS ogr_parcels"))


# --- whole processes ----------------------------------------------------------------


def _process(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB, the process's own maximum resident set).

    Measured by GNU time, a small C process: a child forked from this (large) Python
    process would inherit its high-water mark across exec and report it as its own."""
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        child = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{child.stderr.decode()[-2000:]}")
        kib = int(rss.read().split()[-1])
    return wall, kib / 1024


def _imports(url: str, path: Path, size: int, runs: int) -> list[dict]:
    ours = [
        *GEO_SERVICE,
        "import",
        str(path),
        "--kind",
        "land",
        "--township",
        TOWNSHIP,
        "--status",
        "verified",
        "--as",
        WRITER,
    ]
    dsn = database.make_url(database.normalise_url(url))
    theirs = [
        "ogr2ogr",
        "--config",
        "PG_USE_COPY",
        "YES",
        "-f",
        "PostgreSQL",
        f"PG:host={dsn.host} port={dsn.port or 5432} user={dsn.username} dbname={dsn.database}",
        str(path),
        "-nln",
        "ogr_parcels",
        "-overwrite",
        "-t_srs",
        "EPSG:4490",
        "-nlt",
        "MULTIPOLYGON",
        "-lco",
        "GEOMETRY_NAME=geom",
    ]
    # The default limit (MAX_FEATURES_PER_FILE, 50,000) protects a shared server; a city's
    # file is imported with it raised, as an operator would.
    env = {"DATABASE_URL": url, "MAX_FEATURES_PER_FILE": str(max(size, 50_000))}
    a, b = [], []
    for _ in range(runs):  # interleaved: the machine's drift hits both alike
        _empty(url)
        b.append(_process(theirs))
        _empty(url)
        a.append(_process(ours, env))  # the last run's parcels stay for the next paths
    label = f"import {size:,} parcels (one file, `--status verified`)"
    wall = _row(
        label, size, [x[0] for x in a], [x[0] for x in b], "s", "ogr2ogr, PG_USE_COPY",
        "≤ 3× (aim 1.5×)",
    )  # fmt: skip
    memory = _row(
        "peak memory of that import",
        size,
        [x[1] for x in a],
        [x[1] for x in b],
        "MiB",
        "ogr2ogr",
        "< 300 MiB at 1M" if size >= 1_000_000 else "",
    )
    return [wall, memory]


# --- served paths ---------------------------------------------------------------------


def _served(url: str, size: int, grid: Path, work: Path, notes: list) -> list[dict]:
    rows = []
    rows += _tallies(url, size)
    # Then as survey offices' data comes: some parcels re-surveyed over their neighbours.
    _resurveys(url, grid, work, size)
    rows += _tallies(url, size, RESURVEYED)
    with _server([*GEO_SERVICE, "serve", "--workers", "2"], url) as base:
        first = httpx.get(f"{base}/api/parcels", params={"limit": 100}, timeout=60, headers=HEADERS)
        body = first.content
        rows += _tiles(base, url, size, work, notes)
        bare = _bare_app(work, body)
        with _server(bare, url) as plain:
            rows += _requests(base, plain, size, notes)
    return rows


def _resurveys(url: str, grid: Path, work: Path, size: int) -> None:
    """Every 500th parcel surveyed again half a parcel east under a new code (0.2% of the
    parcels), overlapping it and its neighbour: imported with --accept-overlaps."""
    frame = gpd.read_file(grid, engine="pyogrio").iloc[::500]
    frame["code"] = "R-" + frame["code"].str[2:]
    frame["geometry"] = frame.geometry.translate((10.0 if size <= 100_000 else 4.0) / 2, 0)
    path = work / f"resurveys_{size}.gpkg"
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    command = [*GEO_SERVICE, "import", str(path), "--kind", "land", "--township", TOWNSHIP,
               "--status", "verified", "--accept-overlaps", "--store-reason", "bench: re-surveys",
               "--as", WRITER]  # fmt: skip
    _process(command, {"DATABASE_URL": url})


def _tallies(url: str, size: int, data: str = "") -> list[dict]:
    """The API's tally (through HTTP) beside the full recomputation alone (in-process)."""
    rows = []
    with _server([*GEO_SERVICE, "serve", "--workers", "1"], url) as base:
        client = httpx.Client(base_url=base, timeout=600, headers=HEADERS)
        # The worker's first request opens its connections: not what a tally costs.
        client.get("/api/tallies", params={"by": "city", "kind": "land", "year": YEAR})
        for by in ("district", "township", "project"):
            params = {"by": by, "kind": "land", "year": YEAR}
            a, b = [], []
            # The full recomputation takes minutes at 1M: once there, beside ours 5 times.
            for run in range(5):
                a.append(_timed(lambda p=params: client.get("/api/tallies", params=p)))
                if size <= 100_000 or run == 0:
                    b.append(_timed(lambda by=by: _tally_in_process(url, by)))
            goal = "≤ 0.2 s at 1M" if by == "project" else "≤ 0.05 s at 1M"
            rows.append(
                _row(
                    f"`GET /api/tallies?by={by}`{data}",
                    size,
                    a,
                    b,
                    "s",
                    "full recomputation (tallies.tally(maintained=False), no HTTP)",
                    goal,
                )
            )
        # The end of today: every version the import wrote, read from the history.
        today = datetime.now(tallies.CAMPAIGN_TZ).date()
        past = {"by": "township", "kind": "land", "as_of": today.isoformat()}
        a, b = [], []
        for _ in range(3 if size <= 100_000 else 1):
            a.append(_timed(lambda: client.get("/api/tallies", params=past)))
            b.append(_timed(lambda: _tally_in_process(url, "township", today)))
        rows.append(
            _row(
                f"`GET /api/tallies?by=township&as_of=` (a past day, from the history){data}",
                size,
                a,
                b,
                "s",
                "full recomputation for the same day (tallies.tally(maintained=False))",
                "≤ 2 s at 1M",
            )
        )
    return rows


def _tally_in_process(url: str, by: str, as_of=None) -> None:
    with database.session_scope(url) as session:
        tallies.tally(session, by=by, kind="land", year=YEAR, as_of=as_of, maintained=False)


def _tiles(base: str, url: str, size: int, work: Path, notes: list) -> list[dict]:
    tiles = _tiles_over_grid(url)
    ours = httpx.Client(base_url=base, timeout=60, headers={"Accept-Encoding": "gzip", **HEADERS})
    tipg = _tipg(url, work, notes)
    a, b, a_bytes, b_bytes = [], [], [], []
    with tipg as tipg_base:
        theirs = (
            httpx.Client(base_url=tipg_base, timeout=60, headers={"Accept-Encoding": "gzip"})
            if tipg_base
            else None
        )
        for z, x, y in tiles:
            seconds, size_bytes = _get(ours, f"/tiles/{z}/{x}/{y}.pbf", {"kind": "land"})
            a.append(seconds)
            a_bytes.append(size_bytes)
            if theirs is not None:
                path = f"/collections/public.parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
                seconds, size_bytes = _get(theirs, path, {})
                b.append(seconds)
                b_bytes.append(size_bytes)
    label = f"vector tile z12–16 ({len(tiles)} tiles), per tile"
    reference_name = "tipg (same table, buffer 64, no feature cap)" if b else ""
    return [
        _row(label, size, a, b or None, "s", reference_name, "≤ 1× tipg"),
        _row(
            "bytes on the wire per tile (gzip)",
            size,
            a_bytes,
            b_bytes or None,
            "B",
            reference_name,
            "",
        ),
    ]


def _tiles_over_grid(url: str) -> list[tuple[int, int, int]]:
    with database.get_engine(url).connect() as conn:
        west, south, east, north = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM parcels) x"
            )
        ).one()
    tiles = []
    for z in range(12, 17):
        x0, y1 = _tile_of(west, south, z)
        x1, y0 = _tile_of(east, north, z)
        tiles += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return tiles


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _requests(base: str, plain: str, size: int, notes: list) -> list[dict]:
    """Requests per second with wrk (2 threads, 8 connections), ours and bare alternately."""
    if not shutil.which("wrk"):
        notes.append("wrk is not installed: requests per second were not measured.")
        return []
    rows = []
    for label, path, bare_path, goal in (
        ("`/api/parcels?limit=100`", "/api/parcels?limit=100", "/page", "≥ 1,000 req/s"),
        ("`/healthz`", "/healthz", "/healthz", ""),
    ):
        a, b = [], []
        for _ in range(2):
            a.append(_wrk(base + path, HEADERS))
            b.append(_wrk(plain + bare_path))
        rows.append(
            _row(
                f"{label} (req/s, higher is better)",
                size,
                a,
                b,
                "req/s",
                "bare Starlette, same body",
                goal,
            )
        )
    return rows


def _wrk(target: str, headers: dict | None = None, seconds: int = 8) -> float:
    sent = [a for k, v in (headers or {}).items() for a in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", *sent, target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def _bare_app(work: Path, page: bytes) -> list[str]:
    """A Starlette app answering the same bytes: what the framework alone costs."""
    (work / "page.json").write_bytes(page)
    (work / "bare_app.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        PAGE = Path({str(work / "page.json")!r}).read_bytes()

        async def page(request):
            return Response(PAGE, media_type="application/geo+json")

        async def healthz(request):
            return JSONResponse({{"status": "ok"}})

        app = Starlette(routes=[Route("/page", page), Route("/healthz", healthz)])
    """)
    )
    return [sys.executable, str(_launcher(work)), "bare_app:app", "--app-dir", str(work)]


def _launcher(work: Path) -> Path:
    """A script serving an app with 2 workers the way `geo-service serve` does
    (geo_service/cli/server.py: a TCP socket per worker, so Nagle's algorithm is off and
    connections are spread over the workers), for the references too: served by uvicorn's
    own --workers, every small response waited 40 ms for the client's delayed ACK. Loaded
    by path, so tipg's environment (which has uvicorn, not geo_service) can run it."""
    path = work / "launch.py"
    path.write_text(
        textwrap.dedent(f"""
        import argparse, importlib.util, logging, sys

        def main():
            spec = importlib.util.spec_from_file_location(
                "gs_server", {str(ROOT / "geo_service" / "cli" / "server.py")!r})
            server = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(server)
            parser = argparse.ArgumentParser()
            parser.add_argument("app")
            parser.add_argument("--app-dir", default="")
            parser.add_argument("--port", type=int)
            args = parser.parse_args()
            if args.app_dir:
                sys.path.insert(0, args.app_dir)
            logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
            server.run_server(args.app, host="127.0.0.1", port=args.port, workers=2)

        if __name__ == "__main__":  # the workers are spawned: they import this file again
            main()
    """)
    )
    return path


class _server:
    """A server process on a free port for the duration of a `with` block."""

    def __init__(
        self, command: list[str] | None, url: str, env: dict | None = None, ready: str = "/healthz"
    ):
        self.command, self.url, self.env, self.ready = command, url, env or {}, ready

    def __enter__(self) -> str | None:
        if self.command is None:
            return None
        port = _free_port()
        command = [*self.command, "--port", str(port)]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, "DATABASE_URL": self.url, **self.env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(base + self.ready, timeout=5).status_code < 500:
                    return base
            except httpx.TransportError:
                time.sleep(0.2)
        self.process.terminate()  # not left behind serving a run that has given up
        self.process.wait(timeout=60)
        raise SystemExit(f"{command[0]} did not start")

    def __exit__(self, *exc) -> None:
        if self.command is not None:
            self.process.terminate()
            self.process.wait(timeout=60)


def _tipg(url: str, work: Path, notes: list) -> _server:
    venv = os.environ.get("TIPG_VENV")
    if not venv or not (Path(venv) / "bin" / "uvicorn").exists():
        notes.append("tipg was not compared (no TIPG_VENV with tipg and uvicorn).")
        return _server(None, url)
    dsn = database.make_url(database.normalise_url(url))
    libpq = f"postgresql://{dsn.username}@{dsn.host}:{dsn.port or 5432}/{dsn.database}"
    env = {
        "DATABASE_URL": libpq,
        "TIPG_MAX_FEATURES_PER_TILE": "10000000",
        "TIPG_TILE_BUFFER": "64",
    }
    command = [str(Path(venv) / "bin" / "python"), str(_launcher(work)), "tipg.main:app"]
    return _server(command, url, env, ready="/collections")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- figures --------------------------------------------------------------------------


def _timed(call) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if isinstance(response, httpx.Response) and response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
    return elapsed


def _get(client: httpx.Client, path: str, params: dict) -> tuple[float, int]:
    """Seconds for one GET and the bytes that came over the wire (compressed)."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
    return elapsed, response.num_bytes_downloaded


def _row(label, size, ours, theirs, unit, reference_name, goal):
    a = statistics.median(ours)
    b = statistics.median(theirs) if theirs else None
    ratio = a / b if b else None
    return {
        "path": label,
        "size": size,
        "ours": a,
        "theirs": b,
        "unit": unit,
        "reference": reference_name,
        "goal": goal,
        "ratio": ratio,
        "runs": len(ours),
    }


_GOAL = re.compile(r"([≤<≥])\s*([\d.,]+)\s*(×|s|MiB|KB|req/s)(?:.*\bat (\d+)([kM]))?")


def _verdict(row: dict) -> str:
    """The goal met or not, on the measured figure (a ratio goal on the ratio); a goal set
    for a larger size is judged too, and says so."""
    found = _GOAL.search(row["goal"] or "")
    if not found:
        return ""
    sign, limit, unit, at, scale = found.groups()
    value = row["ratio"] if unit == "×" else row["ours"]
    if value is None:
        return "not compared"
    limit = float(limit.replace(",", ""))
    met = {"≤": value <= limit, "<": value < limit, "≥": value >= limit}[sign]
    verdict = "met" if met else "**not met**"
    if at and row["size"] < int(at) * {"k": 1_000, "M": 1_000_000}[scale]:
        verdict += f" (at {row['size']:,}; the goal is for {at}{scale})"
    return verdict


def _fmt(value, unit) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "ms":  # CPU per request: a few milliseconds, told apart to 10 µs
        return f"{value:.2f} ms"
    if unit in ("req/s", "B"):
        return f"{value:,.0f} {unit}"
    return f"{value:,.0f} {unit}"


def _table(results: list[dict]) -> str:
    lines = [
        "| path | parcels | geo_service (median) | reference | reference (median) | ratio | goal "
        "| goal met? |",
        "|---|---:|---:|---|---:|---:|---|---|",
    ]
    for r in results:
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] else "—"
        lines.append(
            f"| {r['path']} | {r['size']:,} | {_fmt(r['ours'], r['unit'])} | "
            f"{r['reference'] or '—'} | {_fmt(r['theirs'], r['unit'])} | {ratio} | {r['goal']} "
            f"| {_verdict(r)} |"
        )
    return "\n".join(lines)


def _machine(url: str) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = (
        next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        / 1024
        / 1024
    )
    with database.get_engine(url).connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar()
    gdal = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout
    load = os.getloadavg()
    return (
        f"- {cpu}, {os.cpu_count()} cores, {memory:.1f} GiB RAM, {platform.platform()}\n"
        f"- PostgreSQL {pg}, PostGIS {postgis} (same machine), {gdal.strip()}, "
        f"Python {platform.python_version()}\n"
        f"- load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        "(the machine is shared: compare ratios, not absolute times)"
    )


def _write_doc(path: Path, table: str, notes: list, sizes, elapsed, url) -> None:
    note_lines = "".join(f"- {n}\n" for n in notes)
    path.write_text(
        "# Benchmarks\n\n"
        f"Written by `scripts/bench.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({', '.join(f'{s:,}' for s in sizes)} parcels, {elapsed / 60:.1f} min).\n\n"
        f"{_machine(url)}\n\n"
        "Each geo_service figure is a median of runs interleaved with its reference's.\n"
        "Imports are whole processes (wall time; peak memory is the process's maximum\n"
        "resident set), each into an emptied table. Ratios are geo_service ÷ reference\n"
        "(for requests per second, a ratio under 1 is slower).\n\n"
        f"{table}\n\n" + (f"Notes from the run:\n\n{note_lines}\n" if notes else ""),
        encoding="utf-8",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
