"""The field app on a phone (issue 25), in headless Chromium at 390 px with emulated GNSS
and the network cut by `set_offline`: a verifier opens it, goes offline, verifies a parcel
with a note, disputes another, captures an outline by walking it (a poor fix refused),
reloads the page still offline (the service worker serves it), comes back online and finds
everything stored with its field time and position; a sign-off and a dispute queued after
it while someone else changed the parcel come back as conflicts, nothing overwritten. And
the app passes Chromium's installability checks."""

import re

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, record, sign_in, to_docs
from conftest import TEST_PASSWORD
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write
from pyproj import Geod
from shapely import Polygon
from sqlalchemy import select, text
from test_photos import exif_with, jpeg

from geo_service.database import session_scope
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status, verify

pytest_plugins = ["browser"]

PHONE = dict(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
             locale="zh-CN", permissions=["geolocation"])  # fmt: skip
CODES = ["FB-001", "FB-002", "FB-003"]
# A plot north of them, walked stake by stake.
WALKED = list(rectangle(XINDIAN, 300, 800, 90, 70).exterior.coords)[:-1]


@pytest.fixture
def parcels(live_server, tmp_path) -> dict[str, dict]:
    """新店镇: FB-001 delivered, FB-002 verified (by another verifier), FB-003 delivered;
    each with a point inside it (lon, lat)."""
    shapes = [rectangle(XINDIAN, 300 + 300 * n, 300, 200, 120) for n in range(3)]
    path = write(frame(shapes, code=CODES), tmp_path / "fb.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        import_file(session, path, ImportOptions(kind="land", township="新店镇", actor="测绘队"))
        found = {p.code: p for p in session.scalars(select(Parcel).where(Parcel.code.in_(CODES)))}
        for parcel in found.values():
            for to in ("in_progress", "delivered"):
                set_status(session, parcel, to, "区征迁办")
        verify(session, found["FB-002"], "land_all", "土地核验组")
        inside = session.execute(
            text("SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                 "FROM parcels WHERE code = ANY(:codes)"), {"codes": CODES}
        ).all()  # fmt: skip
    by_id = {p.id: code for code, p in found.items()}
    return {by_id[i]: {"id": i, "at": {"longitude": x, "latitude": y}} for i, x, y in inside}


def _stand(context, where: dict, accuracy: float = 3.0, page=None) -> None:
    """The phone's GNSS reports a fix here; with `page`, once the app has received it
    (Chromium passes on one emulated fix at a time)."""
    seen = (
        page.evaluate("+(document.getElementById('field-app').dataset.fixes || 0)") if page else 0
    )
    context.set_geolocation({**where, "accuracy": accuracy})
    if page:
        page.wait_for_function(f"+document.getElementById('field-app').dataset.fixes > {seen}")


def _outbox(page) -> list[tuple[str, str]]:
    found = page.eval_on_selector_all(
        "#outbox li[data-state]", "li => li.map(x => [x.dataset.code, x.dataset.state])"
    )
    return [tuple(pair) for pair in found]


def _camera(folder):
    """A phone camera's photo, with its EXIF time and position."""
    path = folder / "IMG_0001.jpg"
    path.write_bytes(jpeg(2000, 1500, exif=exif_with("2017:05:02 09:15:30", lat=26.15, lon=119.3)))
    return path


def _shot(page, start: str, name: str) -> None:
    """What the phone's screen shows from `start` down (the README's pictures)."""
    page.locator(start).evaluate("el => el.scrollIntoView()")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    to_docs(path, f"{name}.png")


def _open_app(page, base: str) -> None:
    page.goto(f"{base}/field/")
    page.wait_for_selector("#field-app[data-ready]", state="attached")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_function(
        "document.querySelector('#freshness li[data-piece=parcels]').dataset.at !== ''"
    )


def test_offline_sign_off_dispute_and_outline_reach_the_server_once_back_online(
    live_server, chromium, parcels, tmp_path
):
    context = chromium.new_context(**PHONE)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    try:
        sign_in(page.page, live_server, "land_xd", TEST_PASSWORD)
        first = parcels["FB-001"]
        _stand(context, first["at"])
        _open_app(page, live_server)
        page.wait_for_function("document.getElementById('standing').textContent.includes('FB-001')")
        context.set_offline(True)
        page.wait_for_function("document.getElementById('net').textContent === '离线'")

        # FB-001 from the queue, signed off with a note, where the phone stands.
        page.locator("#work button", has_text="FB-001").tap()
        assert "在其界线内" in page.locator("#distance").inner_text()
        page.fill("#note", "界桩齐全，与图一致")
        # With a photo of the stake: made ready on the phone, sent after the sign-off.
        page.set_input_files("#photo", str(_camera(tmp_path)))
        page.wait_for_function(
            "document.getElementById('photo-state').textContent.includes('1 张')"
        )
        page.tap("#verify")
        # FB-002, the parcel the phone stands in, disputed.
        _stand(context, parcels["FB-002"]["at"])
        page.wait_for_function("document.getElementById('standing').textContent.includes('FB-002')")
        page.tap("#choose-here")
        page.fill("#reason", "东侧界桩缺失")
        page.tap("#dispute")
        # FB-003 signed off and then disputed, while someone else signs it off (below):
        # the dispute goes on the version the sign-off wrote, and it wrote none, so the
        # dispute cannot land on the other verifier's version the phone never saw.
        page.locator("#work button", has_text="FB-003").tap()
        page.tap("#verify")
        page.fill("#reason", "北侧界桩移位")
        page.tap("#dispute")

        # An outline walked stake by stake, each the mean of three fixes; a poor fix is
        # refused and waited past, not averaged in.
        for n, (lon, lat) in enumerate(WALKED, start=1):
            page.tap("#stake")
            if n == 1:
                _stand(context, {"longitude": lon, "latitude": lat}, 12, page)
                assert "不采用" in page.locator("#capture-state").inner_text()
            for jitter in (0, 1e-7, -1e-7):
                _stand(context, {"longitude": lon + jitter, "latitude": lat}, 2.5, page)
            page.wait_for_function(
                f"document.getElementById('capture-state').textContent.includes('第 {n} 个')"
            )
        area = page.locator("#capture-area").inner_text()
        # The phone's local projection against the geodesic area, as the server measures.
        shown = float(re.search(r"· ([\d,.]+) 平方米", area)[1].replace(",", ""))
        geodesic = abs(Geod(ellps="GRS80").geometry_area_perimeter(Polygon(WALKED))[0])
        assert "界址点 4 个" in area and shown == pytest.approx(geodesic, abs=0.5), area
        page.fill("#new-code", "FB-NEW")
        page.select_option("#new-township", "新店镇")
        page.tap("#send-outline")
        page.wait_for_function("document.querySelectorAll('#outbox li[data-state]').length === 6")
        assert {state for _code, state in _outbox(page)} == {"waiting"}
        _shot(page, "#outbox-title", "field-offline")

        # Meanwhile another verifier signs FB-003 off from the office.
        with session_scope() as session:
            other = session.get(Parcel, parcels["FB-003"]["id"])
            verify(session, other, "land_all", "土地核验组", note="内业核验")

        # The page again, still offline: the service worker's copy, the outbox as it was.
        page.reload()
        page.wait_for_selector("#field-app[data-ready]", state="attached")
        assert sorted(_outbox(page)) == sorted(
            [("FB-001", "waiting"), ("FB-001", "waiting"), ("FB-002", "waiting"),
             ("FB-003", "waiting"), ("FB-003", "waiting"), ("FB-NEW", "waiting")]
        )  # fmt: skip
        fresh = page.locator("#freshness").inner_text()
        assert "地块：更新于" in fresh and "从未" not in fresh, fresh
        # Drawing works offline too (leaflet-geoman from the worker's cache): three corners
        # tapped on the map, then the first again, and the area shows.
        page.tap("#mode-draw")
        page.locator("#field-map").scroll_into_view_if_needed()
        box = page.locator("#field-map").bounding_box()
        corners = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.3)]
        for fx, fy in corners:
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_function(
            "document.getElementById('capture-area').textContent.includes('界址点 3 个')"
        )
        page.tap("#restart")

        context.set_offline(False)
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#outbox li[data-state]'))"
            ".every(li => ['stored', 'conflict', 'refused'].includes(li.dataset.state))",
            timeout=30_000,
        )
        results = sorted(_outbox(page))
        assert results == [("FB-001", "stored"), ("FB-001", "stored"), ("FB-002", "stored"),
                           ("FB-003", "conflict"), ("FB-003", "conflict"),
                           ("FB-NEW", "stored")], results  # fmt: skip
        for said in page.locator("#outbox li[data-code='FB-003']").all_inner_texts():
            assert "未覆盖" in said, said
        # Brought up to date once sent: nothing of this user's group waits any more.
        page.wait_for_function("document.querySelectorAll('#work li').length === 0")
        _shot(page, "#outbox-title", "field-sent")
        assert page.page_errors == []
        # The photo on the parcel's page, on the sign-off's version.
        page.goto(f"{live_server}/parcels/%23{first['id']}")
        page.wait_for_function("document.querySelector('ul.photo-list img')?.naturalWidth > 0")
        assert page.locator("ul.photo-list img").count() == 1
    finally:
        context.close()
    _check_stored(parcels)


def _check_stored(parcels) -> None:
    with session_scope() as session:
        rows = session.execute(
            text("""
                SELECT p.code, p.status, v.change, v.valid_from, v.recorded_at, v.note,
                       p.verified_by, p.version,
                       ST_X(vp.geom) AS lon, ST_Y(vp.geom) AS lat, vp.accuracy_m
                FROM parcels p
                JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
                LEFT JOIN version_positions vp ON vp.parcel_id = p.id AND vp.version = v.version
                WHERE p.code = ANY(:codes)"""),
            {"codes": [*CODES, "FB-NEW"]},
        ).mappings()
        found = {r["code"]: r for r in rows}
        uploads = session.scalar(
            text("SELECT count(*) FROM uploads WHERE filename = 'FB-NEW.geojson'")
        )
        photo = session.execute(
            text("SELECT parcel_id, version, lon, lat FROM parcel_photos")
        ).one()
    signed, disputed = found["FB-001"], found["FB-002"]
    assert (signed["status"], signed["note"]) == ("verified", "界桩齐全，与图一致")
    # The photo is on the sign-off's version, with the camera's position (its EXIF).
    assert tuple(photo) == (parcels["FB-001"]["id"], 4, pytest.approx(119.3), pytest.approx(26.15))
    assert (disputed["status"], disputed["note"]) == ("disputed", "东侧界桩缺失")
    for row, code in ((signed, "FB-001"), (disputed, "FB-002")):
        # Done in the field before it reached the server, from where the phone stood.
        assert row["valid_from"] < row["recorded_at"]
        assert row["lon"] == pytest.approx(parcels[code]["at"]["longitude"], abs=1e-7)
        assert row["lat"] == pytest.approx(parcels[code]["at"]["latitude"], abs=1e-7)
        assert row["accuracy_m"] == 3.0
    # Someone else's change stands: no sign-off or dispute came over it.
    other = found["FB-003"]
    assert (other["verified_by"], other["note"], other["version"]) == ("land_all", "内业核验", 4)
    # The captured outline went through the upload checks and was stored.
    assert found["FB-NEW"]["status"] == "planned" and uploads == 1


def test_the_app_is_installable(live_server, chromium, parcels, tmp_path):
    # A profile on disk: Chromium never offers to install from an incognito context, which
    # is what new_context() makes.
    context = chromium.browser_type.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_ARGS, **PHONE
    )
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    try:
        sign_in(page.page, live_server, "land_xd", TEST_PASSWORD)
        _stand(context, parcels["FB-001"]["at"])
        _open_app(page, live_server)
        manifest = page.evaluate(
            "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
        )
        assert manifest["display"] == "standalone" and manifest["start_url"] == "/field/"
        for icon in manifest["icons"]:
            loaded = page.evaluate(
                "src => new Promise(ok => { const i = new Image(); "
                "i.onload = () => ok(i.naturalWidth + 'x' + i.naturalHeight); "
                "i.onerror = () => ok(null); i.src = src; })",
                icon["src"],
            )
            assert loaded == icon["sizes"]
        cdp = context.new_cdp_session(page.page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors
        page.wait_for_function("document.getElementById('standing').textContent.includes('FB-001')")
        _shot(page, "#net", "field-app")
        assert page.problems() == []
    finally:
        context.close()


def test_drawing_fetches_leaflet_geoman_when_first_needed(live_server, chromium, parcels):
    """Online and with no service worker to answer: the page comes without leaflet-geoman
    and asks for its bundle (compact parcels) once it has loaded; the phone still finds the
    parcel it stands in; the first tap on 绘制 fetches leaflet-geoman, and the outline drawn
    is sent and stored."""
    context = chromium.new_context(service_workers="block", **PHONE)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    try:
        sign_in(page.page, live_server, "land_xd", TEST_PASSWORD)
        _stand(context, parcels["FB-003"]["at"])
        page.goto(f"{live_server}/field/")
        page.wait_for_function("document.getElementById('standing').textContent.includes('FB-003')")
        assert page.evaluate("window.L.PM === undefined")
        assert not [u for u in page.requests if "geoman" in u or "exifr" in u]
        loaded, asked = page.evaluate(
            "[performance.getEntriesByType('navigation')[0].loadEventStart, "
            "performance.getEntriesByType('resource')"
            ".find(e => e.name.includes('/api/field/bundle')).startTime]"
        )
        assert asked >= loaded, (asked, loaded)
        page.tap("#mode-draw")
        page.wait_for_function(
            "document.getElementById('capture-state').textContent.includes('最后再点第一个点')"
        )
        page.locator("#field-map").scroll_into_view_if_needed()
        box = page.locator("#field-map").bounding_box()
        for fx, fy in [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.3)]:
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_function(
            "document.getElementById('capture-area').textContent.includes('界址点 3 个')"
        )
        assert any("leaflet-geoman" in u for u in page.requests)
        page.fill("#new-code", "FB-DRAWN")
        page.select_option("#new-township", "新店镇")
        page.tap("#send-outline")
        page.wait_for_selector("#outbox li[data-code='FB-DRAWN'][data-state='stored']")
        assert page.problems() == []
    finally:
        context.close()
    with session_scope() as session:
        drawn = session.scalar(select(Parcel).where(Parcel.code == "FB-DRAWN"))
    assert drawn is not None and drawn.status == "planned" and drawn.area_m2 > 0


def test_an_unchanged_bundle_redraws_no_parcel_and_a_change_only_its_parcel(
    live_server, chromium, parcels
):
    """The app asks for its bundle again (every 20 s, or back online) naming the ETag it
    holds: answered 304, no parcel is drawn again; after one parcel changed, that one is."""
    context = chromium.new_context(service_workers="block", **PHONE)
    page = record(context.new_page())
    page.set_default_timeout(15_000)
    app = "document.getElementById('field-app')"

    def drawn() -> int:
        return page.evaluate(f"+({app}.dataset.parcelsDrawn || 0)")

    def shapes() -> int:
        return page.evaluate(
            "document.querySelectorAll('#field-map path.leaflet-interactive').length"
        )

    def sync(status: str) -> None:
        seen = page.evaluate(f"+({app}.dataset.bundles || 0)")
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.wait_for_function(
            f"+{app}.dataset.bundles > {seen} && {app}.dataset.bundleStatus === '{status}'"
        )

    try:
        sign_in(page.page, live_server, "land_xd", TEST_PASSWORD)
        page.goto(f"{live_server}/field/")
        page.wait_for_selector("#field-app[data-ready='1']")
        assert page.evaluate(f"{app}.dataset.bundleStatus") == "200"
        assert drawn() == 3
        on_map = shapes()
        sync("304")
        sync("304")
        assert drawn() == 3
        with session_scope() as session:
            parcel = session.scalar(select(Parcel).where(Parcel.code == "FB-001"))
            verify(session, parcel, "land_all", "土地核验组")
        sync("200")
        assert drawn() == 4  # FB-001 alone, drawn in its new colour
        assert shapes() == on_map
        verified = page.evaluate(
            "[...document.querySelectorAll('#field-map path.leaflet-interactive')]"
            ".filter(p => p.getAttribute('fill') === '#1b5e20').length"
        )
        assert verified == 2  # FB-001 and FB-002
        sync("304")
        assert drawn() == 4
        # Chromium ends a request answered without a body (204, 304) as net::ERR_ABORTED,
        # though the page's fetch resolves with it (microsoft/playwright#32752): one each.
        aborted = [p for p in page.problems() if "/api/field/bundle" in p and "ERR_ABORTED" in p]
        assert len(aborted) == 3
        assert [p for p in page.problems() if p not in aborted] == []
    finally:
        context.close()
