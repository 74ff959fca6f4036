"""Benchmark: a district with 20,000 parcels, side by side with plain tools in the same run.

- import: geo_service's checked, versioned import of the parcel files, against a plain
  geopandas `to_postgis` of the same features (no checks, no history);
- progress page: HTML size and first render in headless Chromium (vector tiles above the
  threshold), against a plain folium page embedding every parcel as GeoJSON.

Targets (issue 4): first render under 3 s, HTML under 2 MB.

Run: .venv/bin/python scripts/bench_maps.py [--parcels 20000]
Uses BENCH_DATABASE_URL (default: local PostgreSQL, database geo_service_bench), which it
drops and recreates.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/geo_service_bench"
)
RUNS = 3
STATUSES = ["planned", "delivered", "verified"]


def fresh_database() -> None:
    from geo_service import database, reference

    database.drop_database(URL)
    os.environ["DATABASE_URL"] = database.normalise_url(URL)
    database.migrate()
    with database.session_scope() as session:
        reference.load_reference(session)


def synthetic_files(total: int, folder: Path) -> list[tuple[Path, str, gpd.GeoDataFrame]]:
    """Non-overlapping 30-60 m blocks on a grid inside each Jin'an township, in EPSG:4549,
    shared out by township area."""
    towns = gpd.read_file(ROOT / "geo_service/data/reference/townships.geojson")
    towns = towns[towns.district_code == "350111"].to_crs(4549)
    rng = np.random.default_rng(20000)
    share = towns.area / towns.area.sum()
    files = []
    for (_, town), part in zip(towns.iterrows(), share, strict=True):
        count = max(int(round(total * part)), 1)
        frame = _blocks(town.geometry.buffer(-30), count, rng, town["name"])
        path = folder / f"{town['code']}.gpkg"
        frame.to_file(path)
        files.append((path, town["name"], frame))
    return files


def _blocks(area, count: int, rng, name: str) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = area.bounds
    step = max(np.sqrt(area.area / (count * 1.3)), 70.0)
    xs, ys = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    corners = np.column_stack([xs.ravel(), ys.ravel()])
    size = rng.uniform(30, 60, (len(corners), 2))
    boxes = shapely.box(
        corners[:, 0], corners[:, 1], corners[:, 0] + size[:, 0], corners[:, 1] + size[:, 1]
    )
    boxes = boxes[shapely.within(boxes, area)][:count]
    codes = [f"{name}-{i:05d}" for i in range(len(boxes))]
    status = rng.choice(STATUSES, len(boxes), p=[0.3, 0.2, 0.5])
    return gpd.GeoDataFrame({"code": codes, "status": status}, geometry=boxes, crs=4549)


def bench_import(files) -> tuple[float, float, int]:
    from geo_service.database import get_engine, session_scope
    from geo_service.parcels.uploads import ImportOptions, import_file

    started = time.perf_counter()
    stored = 0
    for path, township, _ in files:
        with session_scope() as session:
            stored += import_file(
                session, path, ImportOptions(kind="land", township=township, actor="bench")
            ).parcels
    ours = time.perf_counter() - started
    started = time.perf_counter()
    for _, _, frame in files:  # the reference: a plain load, no checks, no history
        frame.to_crs(4490).rename_geometry("geom").to_postgis(
            "bench_plain_parcels", get_engine(), if_exists="append"
        )
    plain = time.perf_counter() - started
    return ours, plain, stored


def naive_folium_page(files, assets) -> str:
    """What a general tool would do: every parcel as GeoJSON in one folium page."""
    frame = gpd.pd.concat([f for _, _, f in files]).to_crs(4326)
    fmap = folium.Map(location=[26.2, 119.35], zoom_start=11, tiles=None)
    fmap.default_js, fmap.default_css = [], []  # the same Leaflet, inlined: opened from file
    fmap.get_root().header.add_child(folium.Element(assets.inline_html(vectorgrid=False)))
    colours = {"planned": "#9e9e9e", "delivered": "#ff9800", "verified": "#1b5e20"}
    folium.GeoJson(
        frame[["code", "status", "geometry"]],
        style_function=lambda f: {"color": colours[f["properties"]["status"]], "weight": 1},
        tooltip=folium.GeoJsonTooltip(["code", "status"]),
    ).add_to(fmap)
    return fmap.get_root().render()


def render_ms(browser, url: str, ready: str) -> float:
    """Milliseconds from navigation start until the page says it is drawn."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(url, wait_until="load", timeout=120_000)
    page.wait_for_function(ready, timeout=120_000)
    value = page.evaluate("() => Number(document.body.dataset.gsRenderedMs || performance.now())")
    context.close()
    return float(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=20_000)
    args = parser.parse_args()

    from browser import CHROMIUM, CHROMIUM_ARGS, _server_thread, _wait_healthy
    from playwright.sync_api import sync_playwright

    from geo_service.maps import assets

    fresh_database()
    with tempfile.TemporaryDirectory() as folder:
        files = synthetic_files(args.parcels, Path(folder))
        ours_import, plain_import, stored = bench_import(files)
        naive_html = naive_folium_page(files, assets)
    server, thread, sock, base = _server_thread("geo_service.api.app:create_app")
    _wait_healthy(base, thread)
    try:
        from urllib.parse import quote
        from urllib.request import urlopen

        page_url = f"{base}/maps/progress?district={quote('晋安区')}&kind=land"
        with urlopen(page_url) as response:
            ours_bytes = len(response.read())
        naive_path = Path(tempfile.mkdtemp()) / "naive.html"
        naive_path.write_text(naive_html, encoding="utf-8")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ready = "document.body.dataset.gsRenderedMs !== undefined"
            ours = [render_ms(browser, page_url, ready) for _ in range(RUNS)]
            naive_ready = (
                f"document.querySelectorAll('path.leaflet-interactive').length >= {stored}"
            )
            naive = [render_ms(browser, naive_path.as_uri(), naive_ready) for _ in range(RUNS)]
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    print(
        f"\n{stored:,} parcels in 晋安区 ({len(files)} files), median of {RUNS} renders, "
        "1920x1080 headless Chromium\n"
    )
    print(f"{'':38} {'geo_service':>14} {'plain tool':>14}")
    print(
        f"{'import (s)':38} {ours_import:>14.1f} {plain_import:>14.1f}"
        "   (plain: geopandas to_postgis, no checks/history)"
    )
    print(
        f"{'progress page HTML (MB)':38} {ours_bytes / 1e6:>14.2f} "
        f"{len(naive_html.encode()) / 1e6:>14.2f}   (plain: folium, all parcels as GeoJSON)"
    )
    print(
        f"{'progress page first render (s)':38} {statistics.median(ours) / 1000:>14.2f} "
        f"{statistics.median(naive) / 1000:>14.2f}"
    )
    print("\ntargets: first render < 3 s, HTML < 2 MB")


if __name__ == "__main__":
    main()
