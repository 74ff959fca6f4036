#!/usr/bin/env python
"""Serving and page weight (issue 26), each beside a reference in the same run; writes its
own section of docs/benchmarks.md (between the bench_web markers; scripts/bench.py writes
the rest).

    .venv/bin/python scripts/bench_web.py                 # everything, 20,000 parcels
    .venv/bin/python scripts/bench_web.py --only pages --output ''

- parcels: `/api/parcels?limit=100` with the worker's page memory off
  (PARCEL_PAGE_MEMORY_SECONDS=0): first pages (with numberMatched) and keyset pages
  (`after=`, a different page each request), beside the same server with the memory on and
  a bare Starlette app answering the same bytes. Keep-alive HTTP/1.1 load from this
  process (8 connections); wrk is used when installed.
- signin: 200 concurrent failed sign-ins (200 user names, so each is a first attempt
  and goes to an argon2 check) at `geo-service serve --workers 2`; peak resident memory of
  the server's processes (sampled from /proc) and /healthz latency during the burst,
  beside the idle server.
- pages: the verifier's pages and the field app in Debian's Chromium (Playwright) under
  slow 4G (1.6 Mbit/s down, 750 kbit/s up, 150 ms) and a 4× CPU slowdown: load time and
  bytes on the wire, empty cache and again; the progress map of the district with 20,000
  parcels until it says it is drawn.

Uses BENCH_WEB_DATABASE_URL (default geo_service_bench_web on the local server), which it
drops and recreates. Not part of the test suite.
"""

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

import bench  # noqa: E402
import bench_maps  # noqa: E402

from geo_service import database, reference  # noqa: E402
from geo_service.accounts import users  # noqa: E402
from geo_service.settings import get_settings  # noqa: E402

DISTRICT = "晋安区"
VERIFIER, LEADER = "web_verifier", "web_leader"
BURST = 200
# Chromium's DevTools figures: bytes per second, milliseconds.
SLOW_4G = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}
CPU_SLOWDOWN = 4
HEALTH_FAILURES: list = []  # /healthz answers other than 200 during the runs
START, END = "<!-- bench_web: start -->", "<!-- bench_web: end -->"


def main() -> None:
    args = _arguments()
    url = os.environ.get(
        "BENCH_WEB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/geo_service_bench_web"
    )
    started = time.time()
    setup = _fresh(url, args.parcels)
    rows, notes = [], []
    if "parcels" in args.only:
        rows += _parcels(url, setup, args.seconds, notes)
    if "signin" in args.only:
        rows += _signin(url, notes)
    if "pages" in args.only:
        rows += _pages(url, setup, notes)
    elapsed = time.time() - started
    table = bench._table(rows)
    print(table)
    for note in notes:
        print("-", note)
    if args.output:
        measured = {p for p in PARTS if p in args.only}
        _write_doc(Path(args.output), rows, notes, url, args.parcels, elapsed, measured)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=6, help="per request-rate run")
    parser.add_argument("--only", default="parcels,signin,pages")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    return parser.parse_args()


# --- data ---------------------------------------------------------------------------


def _fresh(url: str, count: int) -> dict:
    """A district with `count` parcels in its townships (bench_maps' blocks: planned,
    delivered and verified), a land verifier of one township and a leader."""
    os.environ["DATABASE_URL"] = database.normalise_url(url)
    get_settings.cache_clear()
    database.drop_database(url)
    database.migrate(url)
    with tempfile.TemporaryDirectory() as folder:
        files = bench_maps.synthetic_files(count, Path(folder))
        with database.session_scope(url) as session:
            reference.load_reference(session)
        bench_maps.bench_import(files)
    township = max(files, key=lambda f: len(f[2]))[1]
    with database.session_scope(url) as session:
        password = "bench-" + os.urandom(8).hex()
        users.create_user(session, VERIFIER, password=password, by="bench", role="verifier",
                          group="土地核验组", townships=[township])  # fmt: skip
        users.create_user(session, LEADER, password=password, by="bench", role="leader")
        verifier = users.acting_user(session, VERIFIER)
        leader = users.acting_user(session, LEADER)
        cookie = users.issue_token(session, verifier, "session", 24 * 60)
        token = users.issue_token(session, leader, "api", 24 * 60)
        parcel = database.read_rows(
            "SELECT p.code FROM parcels p JOIN admin_units t ON t.id = p.township_id "
            "WHERE t.name = :t AND p.status = 'delivered' ORDER BY p.id LIMIT 1",
            {"t": township},
        )[0][0]
        ids = [r[0] for r in database.read_rows("SELECT id FROM parcels ORDER BY id")]
    return {
        "cookie": cookie,
        "headers": {"Authorization": f"Bearer {token}"},
        "parcel": parcel,
        "ids": ids,
        "township": township,
        "count": len(ids),
    }


# --- /api/parcels ---------------------------------------------------------------------


def _parcels(url: str, setup: dict, seconds: float, notes: list) -> list[dict]:
    serve = [*bench.GEO_SERVICE, "serve", "--workers", "2"]
    headers = setup["headers"]
    # Keyset pages over the whole table: every request a page no request before asked for.
    ids = setup["ids"]
    keyset = [f"/api/parcels?limit=100&after={ids[i]}" for i in range(0, len(ids) - 100, 97)]
    first = ["/api/parcels?limit=100"]
    size = setup["count"]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="geo_service_bench_web_"))
    try:
        afresh = bench._server(serve, url, {"PARCEL_PAGE_MEMORY_SECONDS": "0"})
        remembered = bench._server(serve, url)
        with afresh as base, remembered as cached:
            page = httpx.get(f"{base}{first[0]}", headers=headers, timeout=60).content
            with bench._server(bench._bare_app(work, page), url) as plain:
                measured = {"keyset": [], "first": [], "cached": [], "bare": []}
                for _ in range(2):  # interleaved: the machine's drift hits each alike
                    measured["keyset"].append(_rate(base, keyset, headers, seconds, url))
                    measured["first"].append(_rate(base, first, headers, seconds, url))
                    measured["cached"].append(_rate(cached, first, headers, seconds, url))
                    measured["bare"].append(_rate(plain, ["/page"], {}, seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = {k: [r for r, _ in v] for k, v in measured.items()}
    cpu = {k: [c[0] for _, c in v if c is not None] for k, v in measured.items()}
    in_database = {k: [c[1] for _, c in v if c is not None] for k, v in measured.items()}
    reference = "bare Starlette, same body"
    goal = "≥ 1,000 req/s"
    rows.append(bench._row("`/api/parcels?limit=100&after=…` keyset pages, not remembered "
                           "(req/s)", size, runs["keyset"], runs["bare"], "req/s", reference,
                           goal))  # fmt: skip
    rows.append(bench._row("`/api/parcels?limit=100` first page with numberMatched, not "
                           "remembered (req/s)", size, runs["first"], runs["bare"], "req/s",
                           reference, goal))  # fmt: skip
    rows.append(bench._row("`/api/parcels?limit=100` remembered by the worker (req/s)", size,
                           runs["cached"], runs["bare"], "req/s", reference, ""))  # fmt: skip
    for kind, label in (("keyset", "a keyset page"), ("first", "a first page")):
        if cpu[kind] and cpu["bare"]:
            ms = statistics.median(cpu[kind])
            rows.append(bench._row(
                f"CPU per request, {label} not remembered (server + PostgreSQL backends)",
                size, [ms], [statistics.median(cpu["bare"])], "ms", reference,
                ""))  # fmt: skip
            notes.append(
                f"CPU per request for {label} read afresh: {ms:.2f} ms of the server's "
                f"processes and this database's PostgreSQL backends together "
                f"({statistics.median(in_database[kind]):.2f} ms of it PostgreSQL's): with "
                f"2 cores to itself the service would answer at most {2000 / ms:,.0f} req/s."
            )
    notes.append(
        f"Request rates: {_loader()} (keyset pages, each a different URL: this script's "
        f"asyncio HTTP/1.1 client), 8 keep-alive connections, {seconds:g} s per run, "
        "2 runs interleaved; the server has 2 workers (`geo-service serve --workers 2`), "
        "the bare app too. The load generator shares the 2 cores with the server and "
        "PostgreSQL."
    )
    return rows


def _loader() -> str:
    return "wrk -t2" if shutil.which("wrk") else "this script's asyncio HTTP/1.1 client"


def _rate(base: str, paths: list[str], headers: dict, seconds: float, url=None) -> tuple:
    """Requests per second, and the CPU milliseconds each cost the server's processes and
    (with `url`) the database's backends: what the rate would be on cores of its own."""
    pids = _server_pids(base)
    before = _cpu(pids) | (_backend_cpu(url) if url else {})
    if shutil.which("wrk") and len(paths) == 1:
        rate, done = _wrk(base + paths[0], headers, int(seconds))
    else:
        host, port = base.removeprefix("http://").split(":")
        rate, statuses = asyncio.run(_load(host, int(port), paths, headers, seconds))
        if set(statuses) != {200}:
            raise SystemExit(f"{base}{paths[0]}: answered {statuses}")
        done = sum(statuses.values())
    after = _cpu(pids) | (_backend_cpu(url) if url else {})
    if not done:
        return rate, None
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    database_ms = sum(v for k, v in spent.items() if isinstance(k, tuple)) / done * 1000
    return rate, (sum(spent.values()) / done * 1000, database_ms)


def _wrk(target: str, headers: dict, seconds: int) -> tuple[float, int]:
    """wrk's requests per second and the number of requests it sent (as bench._wrk runs it)."""
    sent = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", *sent, target],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    if re.search(r"Non-2xx or 3xx responses", out):
        raise SystemExit(f"{target}: answered other than 2xx or 3xx\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, int(re.search(r"(\d+) requests in", out).group(1))


def _cpu(pids: list[int]) -> dict:
    """CPU seconds (user + system) each process has used, by process id."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def _backend_cpu(url: str) -> dict:
    rows = database.read_rows(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    return {("pg", pid): cpu for pid, cpu in _cpu([r[0] for r in rows]).items()}


async def _load(host, port, paths, headers, seconds, connections=8) -> tuple[float, dict]:
    """Requests per second over keep-alive connections, each sending its next request
    when the last answer is read (as wrk does), cycling through `paths`."""
    sent = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{sent}\r\n".encode() for p in paths]
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def connection(first: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        at = first
        while time.monotonic() < deadline:
            writer.write(requests[at % len(requests)])
            at += connections
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    return sum(statuses.values()) / (time.monotonic() - started), statuses


# --- sign-in burst ----------------------------------------------------------------------


def _signin(url: str, notes: list) -> list[dict]:
    serve = [*bench.GEO_SERVICE, "serve", "--workers", "2"]
    with bench._server(serve, url) as base:
        pids = _server_pids(base)
        idle_mib = _resident_mib(pids)
        idle = asyncio.run(_healthz_while(base, None))
        statuses, latencies, peak_mib = asyncio.run(_burst(base, pids))
    p95 = _p95(latencies)
    counted = {s: statuses.count(s) for s in sorted(set(statuses), key=str)}
    notes.append(
        f"Sign-in burst: {BURST} POST /api/token at once, each a different unknown user name "
        f"(every one a first attempt, so each goes to an argon2 check); answers {counted}; "
        f"/healthz asked {len(latencies)} times during the burst, max "
        f"{max(latencies):.1f} s, not 200: {HEALTH_FAILURES or 'none'}. Memory is the sum of the "
        "resident sets of the supervisor and its 2 workers (/proc, every 20 ms)."
    )
    return [
        bench._row(f"peak server memory, {BURST} concurrent failed sign-ins", BURST,
                   [peak_mib], [idle_mib], "MiB", "the same server idle", "< 1,000 MiB"),
        bench._row("`/healthz` p95 during that burst", BURST, [p95], [_p95(idle)], "s",
                   "`/healthz` p95, server idle", "< 1 s"),
    ]  # fmt: skip


def _server_pids(base: str) -> list[int]:
    """The process listening on the base URL's port and its children (the workers)."""
    port = int(base.rsplit(":", 1)[1])
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out.stdout)}
    parents = {_parent(p) for p in pids}
    return sorted(pids | {p for p in parents if p and _is_python(p)})


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _is_python(pid: int) -> bool:
    return "python" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")


def _resident_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total / 1024


async def _healthz_while(base: str, running: asyncio.Future | None, polls: int = 40):
    """/healthz latencies (seconds) while `running` runs, or `polls` of them; an answer
    other than 200, or none, counts as a failure, its latency as the time it took."""
    latencies, failures = [], []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while (running is None and len(latencies) < polls) or (running and not running.done()):
            started = time.monotonic()
            try:
                status = (await client.get("/healthz")).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            latencies.append(time.monotonic() - started)
            if status != 200:
                failures.append(status)
            await asyncio.sleep(0.05)
    HEALTH_FAILURES.extend(failures)
    return latencies


async def _burst(base: str, pids: list[int]):
    peak = [0.0]

    async def sample(until: asyncio.Future):
        while not until.done():
            peak[0] = max(peak[0], _resident_mib(pids))
            await asyncio.sleep(0.02)

    limits = httpx.Limits(max_connections=BURST + 10)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=300) as client:
        attempts = [_attempt(client, f"nobody{i}") for i in range(BURST)]
        burst = asyncio.ensure_future(asyncio.gather(*attempts))
        _, latencies, _ = await asyncio.gather(burst, _healthz_while(base, burst), sample(burst))
    return list(burst.result()), latencies, peak[0]


async def _attempt(client: httpx.AsyncClient, name: str):
    try:
        response = await client.post("/api/token", data={"username": name, "password": "x"})
    except httpx.HTTPError as error:
        return type(error).__name__
    return response.status_code


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


# --- pages on a field phone -----------------------------------------------------------------


def _pages(url: str, setup: dict, notes: list) -> list[dict]:
    from browser import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    pages = [
        ("the verifier's home `/`", "/"),
        ("upload page `/uploads`", "/uploads"),
        ("a parcel's page `/parcels/{code}`", f"/parcels/{setup['parcel']}"),
        ("the queue `/queue`", "/queue"),
        ("the field app `/field`", "/field"),
    ]
    progress = f"/maps/progress?district={quote(DISTRICT)}&kind=land"
    rows = []
    serve = [*bench.GEO_SERVICE, "serve", "--workers", "2"]
    with bench._server(serve, url) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, path in pages:
                cookies = {"gs_session": setup["cookie"]}
                if httpx.get(base + path, cookies=cookies).status_code == 404:
                    notes.append(f"{label}: answers 404 on this branch, not measured.")
                    continue
                rows += _page_rows(browser, base, path, label, setup)
            rows += _map_rows(browser, base, progress, setup, notes)
        finally:
            browser.close()
    notes.append(
        "Pages: Debian's Chromium through Playwright, a new browser context per page (empty "
        "cache), signed in as a land verifier by cookie, DevTools "
        "`Network.emulateNetworkConditions` (1.6 Mbit/s down, 750 kbit/s up, 150 ms) and "
        f"`Emulation.setCPUThrottlingRate` {CPU_SLOWDOWN}; time from navigation to the load "
        "event (median of 3); weight is the bytes Chromium received (compressed, headers "
        "included), the second load in the same context (its cache filled), each counted until "
        "the network is idle after the load event: the field app's bundle (asked for after "
        "the load event) is in its first load; the files its service worker keeps for use "
        "offline and fetches itself (leaflet-geoman, exifr, the photos module: 102 KB "
        "gzipped) are not seen by the page's DevTools session and not counted. The reference "
        "is the same page with no emulation."
    )
    return rows


def _context(browser, base: str, setup: dict, emulate: bool):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")  # fmt: skip
    context.add_cookies([{"name": "gs_session", "value": setup["cookie"], "url": base}])
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if emulate:
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    received = {"bytes": 0}
    cdp.on("Network.loadingFinished", lambda e: _add(received, e["encodedDataLength"]))
    return context, page, received


def _add(received: dict, count: float) -> None:
    received["bytes"] += count


def _open(page, target: str, ready: str | None = None) -> float:
    page.goto(target, wait_until="load", timeout=120_000)
    if ready:
        page.wait_for_function(ready, timeout=120_000)
        return page.evaluate("() => Number(document.body.dataset.gsRenderedMs)") / 1000
    return page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000


def _measure(browser, base, path, setup, emulate, ready=None) -> tuple[float, float, float]:
    """Seconds to load (empty cache), KB on the wire then, KB on the wire loading again."""
    context, page, received = _context(browser, base, setup, emulate)
    try:
        seconds = _open(page, base + path, ready)
        page.wait_for_load_state("networkidle", timeout=120_000)
        first = received["bytes"]
        received["bytes"] = 0
        _open(page, base + path, ready)
        page.wait_for_load_state("networkidle", timeout=120_000)
        return seconds, first / 1000, received["bytes"] / 1000
    finally:
        context.close()


def _page_rows(browser, base, path, label, setup, ready=None, goal="< 2 s") -> list[dict]:
    slow = [_measure(browser, base, path, setup, True, ready) for _ in range(3)]
    fast = [_measure(browser, base, path, setup, False, ready) for _ in range(3)]
    size = setup["count"]
    return [
        bench._row(f"{label}: load on slow 4G, CPU ÷{CPU_SLOWDOWN}", size,
                   [s[0] for s in slow], [f[0] for f in fast], "s", "no emulation", goal),
        bench._row(f"{label}: weight, first load (compressed)", size,
                   [s[1] for s in slow], [f[1] for f in fast], "KB", "no emulation",
                   "< 300 KB"),
        bench._row(f"{label}: weight, second load (cache filled)", size,
                   [s[2] for s in slow], [f[2] for f in fast], "KB", "no emulation",
                   "< 30 KB"),
    ]  # fmt: skip


def _map_rows(browser, base, path, setup, notes: list) -> list[dict]:
    ready = "() => document.body.dataset.gsRenderedMs !== undefined"
    label = f"progress map of {DISTRICT} ({setup['count']:,} parcels), first render"
    notes.append(_requests_of(browser, base, path, setup, ready))
    return _page_rows(browser, base, path, label, setup, ready, goal="< 3 s")


def _requests_of(browser, base, path, setup, ready) -> str:
    """What the map's first load asks for, request by request (empty cache, no emulation)."""
    context, page, _ = _context(browser, base, setup, False)
    done = []
    page.on("requestfinished", lambda request: done.append(request))
    try:
        _open(page, base + path, ready)
        page.wait_for_load_state("networkidle", timeout=120_000)
        sizes = [(r.url[len(base) :].split("?")[0], r.sizes()) for r in done]
    finally:
        context.close()
    tiles = [s for url, s in sizes if url.startswith("/tiles/")]
    parts = [f"`{url}` {_kb(s)}" for url, s in sizes if not url.startswith("/tiles/")]
    zooms = sorted({url.split("/")[2] for url, _ in sizes if url.startswith("/tiles/")})
    parts.append(
        f"{len(tiles)} vector tiles (z{', z'.join(zooms)}) "
        f"{sum(s['responseBodySize'] + s['responseHeadersSize'] for s in tiles) / 1000:.0f} KB"
    )
    return (
        "The progress map's first load, request by request (compressed bodies and headers): "
        + "; ".join(parts)
        + "."
    )


def _kb(sizes: dict) -> str:
    return f"{(sizes['responseBodySize'] + sizes['responseHeadersSize']) / 1000:.1f} KB"


# --- the document ----

PARTS = ("parcels", "signin", "pages")


def _part(line: str) -> str:
    """Which part of the benchmark a row or note of the section is from."""
    if "/api/parcels" in line or "CPU per request" in line or "Request rates" in line:
        return "parcels"
    if "sign-in" in line.lower() or "/healthz" in line:
        return "signin"
    return "pages"


def _kept(text: str, measured: set[str]) -> tuple[list[str], list[str], str | None]:
    """The rows and notes of the parts not measured in this run, from the section as it
    stands, and when they were written."""
    if START not in text or END not in text:
        return [], [], None
    section = text.split(START, 1)[1].split(END, 1)[0]
    written = re.search(r"on (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", section)
    lines = section.splitlines()
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| path ")]
    # The notes follow the table (the machine's lines before it are written afresh).
    after_table = lines[lines.index(rows[-1]) + 1 :] if rows else []
    notes = [ln[2:] for ln in after_table if ln.startswith("- ")]
    notes = [n for n in notes if not n.startswith("Parts not run this time")]
    keep = [r for r in rows if _part(r) not in measured]
    return keep, [n for n in notes if _part(n) not in measured], written and written.group(1)


def _write_doc(path: Path, rows: list[dict], notes: list, url: str, parcels: int, elapsed,
               measured: set[str]) -> None:  # fmt: skip
    """The section, with this run's rows; a part not run this time keeps its rows and
    notes from the run before, and says so."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    kept_rows, kept_notes, kept_at = _kept(text, measured)
    table = "\n".join([bench._table(rows), *kept_rows])
    if kept_rows or kept_notes:
        others = ", ".join(p for p in PARTS if p not in measured)
        notes = [*notes, f"Parts not run this time ({others}): rows and notes as written on "
                 f"{kept_at} UTC.", *kept_notes]  # fmt: skip
    section = (
        f"{START}\n## Serving and pages on a field phone (issue 26)\n\n"
        f"Written by `scripts/bench_web.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({', '.join(p for p in PARTS if p in measured)}; {parcels:,} parcels in {DISTRICT}, "
        f"{elapsed / 60:.1f} min), on {platform.node() or 'this machine'}, shared with other "
        f"work while measuring:\n\n{bench._machine(url)}\n\n"
        f"{table}\n\n" + "".join(f"- {n}\n" for n in notes) + f"\n{END}\n"
    )
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + "\n" + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
