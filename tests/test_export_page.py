"""The export page (导出) and prints that fit (issue 22 items 4 and 6): every form on the page
downloads its file with the session cookie, filters left on "All" included; the wall page
prints one A4 landscape page per district; the workbooks print as wide as the page."""

import io
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pyogrio
import pytest
from browser import screenshot, sign_in
from conftest import TEST_PASSWORD, load_demo, shared_app
from fastapi.testclient import TestClient
from test_exports import AS_OF, campaign  # noqa: F401  (the fixture, shared)

from geo_service import exports
from geo_service.web import export_page

pytest_plugins = ["browser"]
ORIGIN = {"Origin": "http://testserver"}
CONTENT_TYPES = {
    "tallies.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "tallies.csv": "text/csv",
    "tallies.html": "text/html",
    "parcels.gpkg": "application/geopackage+sqlite3",
    "parcels.shp": "application/zip",
    "parcels.csv": "text/csv",
    "parcels.kml": "application/vnd.google-earth.kml+xml",
    "parcels.kmz": "application/vnd.google-earth.kmz",
    "parcels.geojson": "application/geo+json",
}


def _signed_in(username: str) -> TestClient:
    client = TestClient(shared_app(), raise_server_exceptions=False)
    form = {"username": username, "password": TEST_PASSWORD, "next": "/"}
    response = client.post("/login", data=form, headers=ORIGIN, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


class _Forms(HTMLParser):
    """Each form's submissions as a browser makes them: (url, the fields' values)."""

    def __init__(self):
        super().__init__()
        self.forms, self._select, self._first = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a["action"], "method": a["method"], "fields": {},
                               "buttons": []})  # fmt: skip
        elif tag == "input":
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select, self._first = a["name"], True
        elif tag == "option" and self._select:
            value = a.get("value")
            if self._first or "selected" in a:
                self.forms[-1]["fields"][self._select] = value
                self._pending = value is None  # the option's text is its value
            self._first = False
        elif tag == "button":
            self.forms[-1]["buttons"].append(a.get("formaction", self.forms[-1]["action"]))

    def handle_data(self, data):
        if getattr(self, "_pending", False):
            self.forms[-1]["fields"][self._select] = data
            self._pending = False

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _submissions(page: str) -> list[tuple[str, dict]]:
    parser = _Forms()
    parser.feed(page)
    downloads = [f for f in parser.forms if f["action"].startswith("/api/exports/")]
    assert downloads and all(f["method"] == "get" for f in downloads)
    return [(url, f["fields"]) for f in downloads for url in f["buttons"]]


def _opens(name: str, body: bytes, tmp_path: Path) -> int:
    """Rows or features in the file, read by openpyxl or GDAL as the user's software would."""
    if name == "tallies.xlsx":
        book = openpyxl.load_workbook(io.BytesIO(body))
        return book["交地"].max_row - 1
    if name == "tallies.csv":
        return len(body.decode("utf-8-sig").splitlines()) - 1
    if name == "tallies.html":
        return body.decode().count('<section class="district"')
    path = tmp_path / name.replace("parcels.shp", "parcels.zip")
    path.write_bytes(body)
    if name == "parcels.shp":
        assert {".shp", ".dbf", ".prj", ".cpg"} <= {
            Path(n).suffix for n in zipfile.ZipFile(path).namelist()
        }
        return len(pyogrio.read_dataframe(f"/vsizip/{path}/parcels.shp"))
    return len(pyogrio.read_dataframe(path))


def test_leaders_and_planners_find_the_export_page_at_home(db):
    for username in ("planner", "leader_city", "leader_jinan"):
        home = _signed_in(username).get("/").text
        assert 'href="/exports"' in home and "导出" in home, username


@pytest.mark.parametrize("username", ["planner", "leader_jinan"])
def test_every_form_on_the_page_downloads_its_file(campaign, tmp_path, username):  # noqa: F811
    client = _signed_in(username)
    page = client.get("/exports")
    assert page.status_code == 200 and "<h1>导出</h1>" in page.text
    submissions = _submissions(page.text)
    assert {url.removeprefix("/api/exports/") for url, _ in submissions} == set(CONTENT_TYPES)
    for url, fields in submissions:
        name = url.removeprefix("/api/exports/")
        # a city-wide user's filters all start on "All" (sent empty); a one-district user's
        # district is their own
        assert fields["district"] == ("" if username == "planner" else "晋安区")
        assert fields["kind"] == "" and fields.get("as_of", "") == ""
        response = client.get(url, params=fields)
        assert response.status_code == 200, (url, fields, response.text[:300])
        assert CONTENT_TYPES[name] in response.headers["content-type"], name
        if name != "tallies.html":
            assert "attachment" in response.headers["content-disposition"]
        counted = _opens(name, response.content, tmp_path)
        # 5 parcels in 晋安区; its wall page; the land tallies of 新店镇, 鼓山镇 and 晋安区
        expected = {"tallies.html": 1, "tallies.xlsx": 3, "tallies.csv": 3}.get(name, 5)
        assert counted >= expected if name == "tallies.csv" else counted == expected, name


def test_export_filters_sent_empty_are_no_filter(campaign):  # noqa: F811
    client = _signed_in("planner")
    blank = {"district": "", "township": "", "kind": "", "status": "", "as_of": ""}
    layer = client.get("/api/exports/parcels.geojson", params=blank)
    assert layer.status_code == 200, layer.text
    assert len(layer.json()["features"]) == 5
    tallies = client.get("/api/exports/tallies.csv", params={**blank, "year": "", "by": "district"})
    assert tallies.status_code == 200, tallies.text
    # a value that is given is still checked
    assert client.get("/api/exports/tallies.csv", params={"as_of": "2017-13-01"}).status_code == 422
    assert client.get("/api/exports/parcels.csv", params={"kind": "house"}).status_code == 422


def test_page_fits_a_phone_and_a_laptop_and_downloads_in_the_browser(live_server, browser_page):
    """No sideways scrolling at 390 and 1366 px; a button's click is a download."""
    from geo_service import demo

    load_demo()
    sign_in(browser_page.page, live_server, "许晓燕", demo.DEMO_PASSWORD)
    for width, height in ((390, 844), (1366, 768)):
        browser_page.set_viewport_size({"width": width, "height": height})
        browser_page.goto(f"{live_server}/exports")
        overflow = browser_page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        screenshot(browser_page, f"exports-{width}")
        assert overflow <= 0, (width, overflow)
    with browser_page.expect_download() as download:
        browser_page.get_by_role("button", name="GeoPackage").click()
    assert download.value.suggested_filename == "parcels-4490.gpkg"
    assert len(pyogrio.read_dataframe(download.value.path())) > 0
    # the browser reports a navigation that became a download as aborted
    problems = [p for p in browser_page.problems() if "/api/exports/" not in p]
    assert problems == []


def test_page_in_english_on_request(campaign):  # noqa: F811
    page = _signed_in("planner").get("/exports", params={"lang": "en"}).text
    assert set(export_page.CRS_LABELS) == set(exports.EXPORT_CRS)
    assert set(export_page.GROUPINGS) == set(exports.EXPORT_GROUPINGS)
    assert "Parcel layers for GIS software" in page and '<option value="en" selected>' in page


# --- prints that fit --------------------------------------------------------------------------

_PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b(?!s)")


def _pdf_pages(chromium, page_html: str) -> int:
    """Pages Chromium prints the page on (A4 landscape, as its @page asks)."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content(page_html, wait_until="load")
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    finally:
        context.close()
    return len(_PAGE_OBJECT.findall(pdf))


def test_wall_page_prints_one_a4_page_per_district(db, chromium):
    load_demo()
    from geo_service import database

    with database.session_scope() as session:
        export = exports.tally_export(session, by="township", year=2017)
    page = exports.tallies_html(export)
    districts = page.count('<section class="district"')
    assert districts >= 2 and "晋安区" in page
    assert _pdf_pages(chromium, page) == districts


def _ranking(district: str, kind: str, townships: int) -> list[dict]:
    row = {"district": district, "kind": kind, "verified_m2": 1e5, "verified_mu": 150.0,
           "target_m2": 2e5, "target_mu": 300.0, "progress": 0.5, "remaining_m2": 1e5,
           "remaining_mu": 150.0, "months_left": 6, "pace_m2": 2e4, "pace_mu": 30.0}  # fmt: skip
    rows = [{**row, "rank": i + 1, "township": f"第{i + 1}街道", "total": False}
            for i in range(townships)]  # fmt: skip
    return [*rows, {**row, "rank": None, "township": None, "total": True}]


@pytest.mark.parametrize("townships", [1, 12, 35])
def test_a_district_with_many_townships_still_fits_one_page(chromium, townships):
    ranking = [*_ranking("甲区", "land", townships), *_ranking("甲区", "demolition", townships),
               *_ranking("乙区", "land", 3)]  # fmt: skip
    export = exports.TallyExport(by="township", year=2017, as_of=AS_OF,
                                 kinds=["land", "demolition"], rows=[], ranking=ranking,
                                 reference_day=AS_OF)  # fmt: skip
    assert _pdf_pages(chromium, exports.tallies_html(export)) == 2


def test_workbook_sheets_print_landscape_as_wide_as_the_page(campaign):  # noqa: F811
    export = exports.tally_export(campaign, by="month", as_of=AS_OF)
    book = openpyxl.load_workbook(io.BytesIO(exports.tallies_xlsx(export)))
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert setup.orientation == "landscape" and setup.paperSize == 9, sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), sheet.title
        assert "&P" in sheet.oddFooter.center.text
        if sheet.title != "说明":
            assert sheet.print_title_rows == "$1:$1", sheet.title
            assert sheet.oddHeader.center.text == sheet.title


@pytest.mark.skipif(
    shutil.which("soffice") is None,
    reason="LibreOffice is not installed (WITH_LIBREOFFICE=1 scripts/bootstrap.sh)",
)
def test_workbook_prints_a_page_wide_in_libreoffice(campaign, tmp_path):  # noqa: F811
    export = exports.tally_export(campaign, by="township", as_of=AS_OF)
    book = tmp_path / "tallies.xlsx"
    book.write_bytes(exports.tallies_xlsx(export))
    sheets = len(openpyxl.load_workbook(book).worksheets)
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(book)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    pdf = (tmp_path / "tallies.pdf").read_bytes()
    # a few rows a sheet: each sheet is one page wide and one long (unfitted: 28 pages)
    assert len(_PAGE_OBJECT.findall(pdf)) == sheets
