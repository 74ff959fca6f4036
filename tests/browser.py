"""Browser test harness: the real service on a local port, headless Chromium with the outside
network cut, and a page that records everything that went wrong.

Use it from a test module with `pytest_plugins = ["browser"]`. Fixtures:

- `live_server` (needs `db`): base URL (`http://127.0.0.1:<port>`) of uvicorn serving
  `geo_service.api.app:create_app` against the test database; one server per test session.
- `demo_server` (needs `db`): the same, with the demo loaded (conftest `load_demo`).
- `chromium`: the Playwright Browser (Debian's /usr/bin/chromium, never `playwright install`).
- `browser_page`: a fresh `RecordedPage`: the Playwright page's methods (goto, locator, ...)
  plus the lists `console_errors`, `page_errors`, `failed_requests`, `bad_responses`
  (status >= 400) and `requests` (every URL asked for); `problems()` joins the first four;
  `save_screenshot(name)` writes `test-artifacts/<name>.png` (gitignored; CI may collect it).

`screenshot(page, name)` does the same for any Playwright page; `to_docs(shot, name)` copies
a screenshot into docs/ when UPDATE_DOCS_SCREENSHOTS is set; `settle(page)` waits for a
page's maps to be drawn; `pages_of(page, base)` crawls the pages a signed-in role reaches;
`tab_to(page, selector)` presses Tab until the focus is there.
Without Chromium the browser tests are skipped, unless REQUIRE_BROWSER is set (run-tests.sh).
"""

import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host but the service's own is unreachable: a page that reaches for a CDN fails.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Links to data for programs, and to pages that are not ours to lay out (Swagger UI, ReDoc).
NOT_PAGES = re.compile(r"^/(api/(?!exports/tallies\.html)|docs|redoc)")


def _server_thread(app_factory: str):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; we keep the socket
    port = sock.getsockname()[1]
    config = uvicorn.Config(app_factory, factory=True, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return server, thread, sock, f"http://127.0.0.1:{port}"


def _wait_healthy(base_url: str, thread: threading.Thread, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the live server stopped while starting: {last}")
        try:
            with urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError as exc:  # refused while starting, or 503 before the database answers
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{base_url}/healthz did not answer within {timeout} s: {last}")


@pytest.fixture(scope="session")
def _live_server_session(db_url):
    # DATABASE_URL already names the test database (db_url sets it); the app reads it
    # through the same settings, in this process.
    server, thread, sock, base_url = _server_thread("geo_service.api.app:create_app")
    try:
        _wait_healthy(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live_server(db, _live_server_session):
    """Base URL of the real service, on an emptied test database (see conftest `db`)."""
    return _live_server_session


@pytest.fixture
def demo_server(live_server):
    """Base URL of the real service, with the demo loaded on the emptied test database."""
    from conftest import load_demo

    load_demo()
    return live_server


@pytest.fixture(scope="session")
def chromium():
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} not found: scripts/bootstrap.sh installs it (WITH_CHROMIUM=1)")
        pytest.skip(f"{CHROMIUM} not found (install Debian chromium, or set CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e .[test]")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class RecordedPage:
    """A Playwright page plus what went wrong on it; other attributes are the page's."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.page, name)

    def wait_for_function(self, expression: str, timeout: float = 15_000) -> None:
        """Playwright's own wait_for_function runs its predicate through eval, which the
        pages' Content-Security-Policy forbids (as it should); evaluate() goes through the
        DevTools protocol, which a CSP does not govern, so poll with that."""
        deadline = time.monotonic() + timeout / 1000
        while not self.page.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout:.0f} ms")
            self.page.wait_for_timeout(100)

    def save_screenshot(self, name: str) -> Path:
        return screenshot(self.page, name)

    def problems(self) -> list[str]:
        return [
            *(f"console: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"request failed: {m}" for m in self.failed_requests),
            *(f"HTTP error: {m}" for m in self.bad_responses),
        ]


def _favicon(url: str) -> bool:
    # Chromium fetches the icon by itself, and drops the request when the page moves on
    # meanwhile (ERR_ABORTED): not the page's problem.
    return urlsplit(url).path.endswith("/favicon.ico")


def record(page) -> RecordedPage:
    recorded = RecordedPage(page)

    def on_console(message):
        location = (message.location or {}).get("url", "")
        if message.type == "error" and not _favicon(location):
            recorded.console_errors.append(f"{message.text} ({location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: recorded.page_errors.append(str(error)))
    page.on("request", lambda request: recorded.requests.append(request.url))

    def on_failed(request):
        if not _favicon(request.url):
            recorded.failed_requests.append(f"{request.url}: {request.failure}")

    page.on("requestfailed", on_failed)

    def on_response(response):
        if response.status >= 400 and not _favicon(response.url):
            recorded.bad_responses.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    return recorded


@pytest.fixture
def browser_page(chromium):
    """A fresh page (own context: no cache or storage shared between tests), recorded."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield record(page)
    context.close()


def screenshot(page, name: str) -> Path:
    """Saves the page as test-artifacts/<name>.png and returns the path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def to_docs(shot: Path, name: str) -> None:
    """The README's screenshots are refreshed on request only, so a test run leaves the
    checkout as it was (each run's screenshots stay in test-artifacts/)."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        shutil.copy(shot, ROOT / "docs" / name)


def sign_in(page, base_url: str, username: str, password: str) -> None:
    """Sign in through the real sign-in page, as a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.locator("body").inner_text()


def settle(page) -> None:
    """The page as a person sees it: a map's layers drawn, a parcel map ready."""
    if page.locator(".folium-map").count():
        page.wait_for_function(
            "document.body.hasAttribute('data-gs-updates') "
            "|| document.body.hasAttribute('data-gs-links')"
        )
    if page.locator("#parcel-map, #report-map").count():
        page.wait_for_selector("#parcel-map[data-ready], #report-map[data-ready]", state="attached")


def pages_of(page, base: str) -> list[str]:
    """The signed-in start page and every page of ours it links to (crawled: pages added
    later are covered), with one parcel's, one stored upload's and, when the register is
    linked, one project's page."""
    page.goto(f"{base}/")
    hrefs = page.eval_on_selector_all("main a[href]", "as => as.map(a => a.getAttribute('href'))")
    found = ["/"] + [h for h in hrefs if h.startswith("/") and not NOT_PAGES.match(h)]
    page.goto(f"{base}/parcels")
    parcel = page.locator("table.list tbody a").first
    if parcel.count():
        found.append(parcel.get_attribute("href"))
    page.goto(f"{base}/uploads")
    upload = page.locator("#past-uploads tbody a").first
    if upload.count():
        found.append(upload.get_attribute("href"))
    if "/projects" in found:
        page.goto(f"{base}/projects")
        found.append(page.locator("#projects tbody a").first.get_attribute("href"))
    return list(dict.fromkeys(found))


def tab_to(page, selector: str, limit: int = 80) -> list[str]:
    """Presses Tab until the focus is on `selector`; returns what it passed on the way."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return passed
        passed.append(page.evaluate("document.activeElement.outerHTML.slice(0, 60)"))
    raise AssertionError(f"{selector} not reached in {limit} tabs: {passed}")
