"""A photo taken on the parcel's page in headless Chromium: field_photos.js reads the
camera's EXIF time and GPS with exifr, resizes the photo on a canvas to the page's size,
sends it through the API, and the page shows its thumbnail."""

import io

from browser import sign_in
from conftest import TEST_PASSWORD
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write
from PIL import Image
from sqlalchemy import select
from test_photos import exif_with, jpeg

from geo_service import database
from geo_service.models import Parcel, ParcelPhoto
from geo_service.parcels.uploads import ImportOptions, import_file

pytest_plugins = ["browser"]


def test_a_verifier_photographs_a_parcel_and_sees_its_thumbnail(
    live_server, browser_page, tmp_path
):
    path = write(frame([rectangle(XINDIAN, 0, 0, 200, 120)], code=["XD-F1"]), tmp_path / "p.gpkg",
                 CM120E, "GPKG")  # fmt: skip
    with database.session_scope() as session:
        import_file(session, path, ImportOptions(kind="land", township="新店镇", actor="测绘队"))
        pid = session.scalar(select(Parcel.id))
    camera = tmp_path / "IMG_0001.jpg"
    exif = exif_with("2017:05:02 09:15:30", lat=26.1234, lon=119.3456)
    camera.write_bytes(jpeg(3200, 2400, exif=exif))

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "land_xd", TEST_PASSWORD)
    page.goto(f"{live_server}/parcels/%23{pid}")
    assert page.locator("#photos + p").inner_text() == "尚无照片。"
    page.set_input_files("form.photo-upload input[name=photo]", str(camera))
    with page.expect_navigation(url=f"{live_server}/parcels/%23{pid}?done=photo#photos"):
        page.get_by_role("button", name="上传照片").click()
    thumb = page.locator("ul.photo-list img").first
    thumb.wait_for()
    page.wait_for_function("document.querySelector('ul.photo-list img').naturalWidth > 0")
    assert "2017-05-02 09:15" in page.locator(".photo-facts").inner_text()
    assert any("/api/parcels/" in url and url.endswith("/photos") for url in page.requests)
    assert page.problems() == []

    with database.session_scope() as session:
        photo = session.scalar(select(ParcelPhoto))
        # Read from the EXIF by the page before resizing, sent as form fields.
        assert photo.taken_from == "form" and photo.position_from == "form"
        assert photo.taken_at.isoformat() == "2017-05-02T01:15:30+00:00"
        assert (round(photo.lon, 4), round(photo.lat, 4)) == (119.3456, 26.1234)
        assert (photo.width, photo.height) == (1600, 1200)  # resized on the phone
        assert photo.display_sha256 == photo.sha256  # kept as the phone sent it
    display = page.request.get(f"{live_server}/api/photos/{photo.id}?size=display")
    with Image.open(io.BytesIO(display.body())) as image:
        assert image.size == (1600, 1200) and not image.getexif()

    # The map's popup of the parcel: how many photos, the first one's thumbnail.
    page.goto(f"{live_server}/maps/progress?district=晋安区&kind=land")
    page.fill(".gs-search input", "XD-F1")
    page.press(".gs-search input", "Enter")
    row = page.locator(".leaflet-popup tr.gs-photos")
    row.locator("img.gs-photo").wait_for()
    assert row.locator("a").inner_text().strip() == "1 张照片"
    assert row.locator("a").get_attribute("href") == f"/parcels/%23{pid}#photos"
    page.wait_for_function("document.querySelector('.leaflet-popup img.gs-photo').naturalWidth > 0")
    assert page.problems() == []
