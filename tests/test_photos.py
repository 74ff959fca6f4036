"""Photos of parcels: kept with the parcel version, deduplicated, refused when they are no
image, too large or a decompression bomb, readable in three sizes by who may read the
parcel, counted in backups and carried by the exports."""

import io
import struct
import zlib
from fractions import Fraction

import pytest
from conftest import auth, count_rows, scratch_database, shared_app
from fastapi.testclient import TestClient
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write
from PIL import Image
from sqlalchemy import select, text

from geo_service import database
from geo_service.models import Parcel
from geo_service.parcels.uploads import ImportOptions, import_file

LAND = rectangle(XINDIAN, 0, 0, 240, 150, angle_deg=11)
LAND_2 = rectangle(XINDIAN, 400, 0, 200, 120, angle_deg=0)


def jpeg(width=640, height=480, color=(200, 120, 40), exif=None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), color)
    image.save(out, "JPEG", quality=80, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def exif_with(taken: str | None = None, lat=None, lon=None) -> Image.Exif:
    """EXIF as a camera writes it: the time in the Exif IFD, the position in the GPS IFD as
    degrees, minutes and seconds."""
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    if lat is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    return exif


def _dms(value: float):
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(10000)
    return (Fraction(degrees), Fraction(minutes), seconds)


def png_bomb(width=20000, height=20000) -> bytes:
    """A PNG of a few kilobytes whose header claims width × height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.fixture
def parcels(db, tmp_path) -> dict[str, int]:
    path = write(frame([LAND, LAND_2], code=["XD-P1", "XD-P2"]), tmp_path / "p.gpkg", CM120E,
                 "GPKG")  # fmt: skip
    with database.session_scope() as session:
        import_file(session, path, ImportOptions(kind="land", township="新店镇", actor="测绘队"))
        rows = session.execute(select(Parcel.code, Parcel.id)).all()
    return dict(rows)


@pytest.fixture
def client(db):
    with TestClient(shared_app(), raise_server_exceptions=False) as c:
        yield c


def _send(client, parcel_id, content, user="land_xd", original=None, **form):
    files = {"photo": ("site.jpg", content, "image/jpeg")}
    if original is not None:
        files["original"] = ("IMG_0001.jpg", original, "image/jpeg")
    return client.post(
        f"/api/parcels/{parcel_id}/photos", files=files, data=form, headers=auth(user)
    )


def test_a_photo_is_kept_with_its_version_and_a_resend_is_the_same_record(client, parcels):
    pid = parcels["XD-P1"]
    content = jpeg()
    sent = _send(client, pid, content, taken_at="2017-05-02T10:30:00", lon="119.35",
                 lat="26.12", accuracy_m="4.5")  # fmt: skip
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["parcel_id"] == pid and body["version"] == 1
    assert body["taken_at"] == "2017-05-02T10:30:00+08:00"
    assert (body["lon"], body["lat"], body["accuracy_m"]) == (119.35, 26.12, 4.5)
    assert body["uploaded_by"] == "land_xd"
    again = _send(client, pid, content)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert count_rows("parcel_photos") == 1
    # The same file for another parcel is another photo (its bytes are kept once).
    other = _send(client, parcels["XD-P2"], content)
    assert other.status_code == 201 and other.json()["id"] != body["id"]
    assert count_rows("parcel_photos") == 2
    display = client.get(body["url"], headers=auth("leader_jinan"))
    assert display.status_code == 200 and display.headers["content-type"] == "image/jpeg"
    assert display.content == content  # already a display-size JPEG: kept as sent
    thumb = client.get(body["thumb_url"], headers=auth("leader_jinan"))
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 320 and image.format == "JPEG"
    listed = client.get(f"/api/parcels/{pid}/photos", headers=auth("planner")).json()
    assert [p["id"] for p in listed] == [body["id"]]


def test_the_version_is_the_one_given_or_the_current(client, parcels, session):
    pid = parcels["XD-P1"]
    officer = auth("officer_xd")
    assert client.post(f"/api/parcels/{pid}/status", json={"status": "in_progress"},
                       headers=officer).status_code == 200  # fmt: skip
    assert _send(client, pid, jpeg(color=(1, 2, 3))).json()["version"] == 2
    assert _send(client, pid, jpeg(color=(4, 5, 6)), version="1").json()["version"] == 1
    refused = _send(client, pid, jpeg(color=(7, 8, 9)), version="3")
    assert refused.status_code == 400 and refused.json()["rule"] == "photo_version"
    assert "XD-P1" in refused.json()["words"]


def test_exif_time_and_position_are_read_when_the_form_says_nothing(client, parcels):
    pid = parcels["XD-P1"]
    exif = exif_with("2017:05:02 09:15:30", lat=26.1234, lon=119.3456)
    body = _send(client, pid, jpeg(exif=exif)).json()
    assert body["taken_at"] == "2017-05-02T09:15:30+08:00" and body["taken_from"] == "exif"
    assert body["lat"] == pytest.approx(26.1234, abs=1e-6)
    assert body["lon"] == pytest.approx(119.3456, abs=1e-6)
    assert body["position_from"] == "exif" and body["accuracy_m"] is None
    # The phone's resized photo carries no EXIF: the original's is read, the form wins.
    plain = jpeg(color=(9, 9, 9))
    original = jpeg(2000, 1500, exif=exif_with("2017:06:01 08:00:00", lat=-33.5, lon=-70.25))
    body = _send(client, pid, plain, original=original, lon="119.3", lat="26.1").json()
    assert body["taken_at"] == "2017-06-01T08:00:00+08:00"
    assert (body["lon"], body["lat"], body["position_from"]) == (119.3, 26.1, "form")
    kept = client.get(body["original_url"], headers=auth("land_xd"))
    assert kept.content == original


def test_a_large_photo_is_made_display_size_and_upright(client, parcels):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the camera was held upright
    body = _send(client, parcels["XD-P1"], jpeg(2400, 1200, exif=exif)).json()
    display = client.get(body["url"], headers=auth("land_xd")).content
    with Image.open(io.BytesIO(display)) as image:
        assert image.size == (800, 1600)


def test_an_iphone_heic_is_shown_as_a_jpeg_and_kept_as_it_was_taken(client, parcels):
    """A HEIC (made by pillow-heif, as an iPhone writes it, 3000×2000 with its EXIF time)
    sent as the photo: the page shows a display-size JPEG, the HEIC is the original."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    exif = exif_with("2017:05:02 09:15:30")
    Image.new("RGB", (3000, 2000), (30, 120, 200)).save(out, "HEIF", quality=60, exif=exif)
    heic = out.getvalue()
    assert heic[4:12] == b"ftypheic"
    files = {"photo": ("IMG_0001.HEIC", heic, "image/heic")}
    sent = client.post(f"/api/parcels/{parcels['XD-P1']}/photos", files=files,
                       headers=auth("land_xd"))  # fmt: skip
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["taken_at"] == "2017-05-02T09:15:30+08:00"
    display = client.get(body["url"], headers=auth("land_xd"))
    assert display.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(display.content)) as image:
        assert (image.format, image.size) == ("JPEG", (1600, 1067))
    original = client.get(body["original_url"], headers=auth("land_xd"))
    assert original.headers["content-type"] == "image/heic" and original.content == heic


# Each case with its own refusal; one database set-up for all (the suite's time is counted).
NO_PHOTOS = {
    "pdf": (b"%PDF-1.4 not a photo", "photo_not_image"),
    "empty": (b"", "photo_empty"),
    "truncated": (jpeg()[:200], "photo_not_image"),
    "bomb": (png_bomb(), "photo_too_many_pixels"),
}


def test_what_is_no_photo_is_refused_in_words_and_nothing_kept(client, parcels):
    for case, (content, rule) in NO_PHOTOS.items():
        refused = _send(client, parcels["XD-P1"], content)
        assert refused.status_code == 400, (case, refused.text)
        assert refused.json()["rule"] == rule, case
        # In the caller's language (Chinese by default), beside the English detail.
        assert refused.json()["words"] and refused.json()["words"] != refused.json()["detail"]
    assert count_rows("parcel_photos") == 0 and count_rows("upload_files") == 1  # the file's


def test_over_the_byte_limit_is_refused(client, parcels, monkeypatch):
    monkeypatch.setenv("PHOTO_MAX_BYTES", "2048")
    from geo_service.settings import get_settings

    get_settings.cache_clear()
    try:
        refused = _send(client, parcels["XD-P1"], jpeg(1000, 1000, color=(1, 200, 3)))
        # Far over the limit: refused by its declared length, before its body is read.
        huge = _send(client, parcels["XD-P1"], b"\xff" * 300_000)
    finally:
        monkeypatch.delenv("PHOTO_MAX_BYTES")
        get_settings.cache_clear()
    assert refused.status_code == 413 and refused.json()["rule"] == "photo_too_large"
    assert huge.status_code == 413 and "larger than the upload limit" in huge.json()["detail"]
    assert count_rows("parcel_photos") == 0


BAD_FIELDS = [
    ({"lon": "119.3"}, "photo_position"),
    ({"lon": "500", "lat": "26"}, "photo_position"),
    ({"lon": "east", "lat": "26"}, "photo_position"),
    ({"taken_at": "2090-01-01T10:00"}, "photo_taken_future"),
    ({"taken_at": "yesterday"}, "photo_taken_at"),
]


def test_bad_form_fields_are_refused(client, parcels):
    for form, rule in BAD_FIELDS:
        refused = _send(client, parcels["XD-P1"], jpeg(), **form)
        assert refused.status_code == 400, (form, refused.text)
        assert refused.json()["rule"] == rule, form
    assert count_rows("parcel_photos") == 0


def test_who_may_add_a_photo_is_who_may_verify_or_dispute(client, parcels):
    for user in ("demolition_all", "officer_xd", "leader_jinan", "planner"):
        sent = _send(client, parcels["XD-P1"], jpeg(), user=user)
        assert sent.status_code == 403, (user, sent.text)
    assert count_rows("parcel_photos") == 0
    assert _send(client, parcels["XD-P1"], jpeg(), user="land_all").status_code == 201


def _outsider() -> dict:
    """A leader of another district (made once per test session)."""
    from geo_service.accounts import users

    with database.session_scope() as session:
        if session.scalar(text("SELECT 1 FROM users WHERE username = 'leader_fuqing'")) is None:
            users.create_user(session, "leader_fuqing", password="correct horse battery",
                              by="tests", role="leader", district="福清市")  # fmt: skip
    return auth("leader_fuqing")


def test_a_photo_is_read_by_who_may_read_the_district_only(client, parcels):
    body = _send(client, parcels["XD-P1"], jpeg()).json()
    assert client.get(body["url"]).status_code == 401
    assert client.get(body["url"], headers=auth("leader_jinan")).status_code == 200
    assert client.get(body["url"], headers=_outsider()).status_code == 404
    assert client.get(body["url"] + "x", headers=auth("leader_jinan")).status_code == 422
    missing = client.get(f"/api/photos/{body['id'] + 1}", headers=auth("planner"))
    assert missing.status_code == 404
    no_original = client.get(f"/api/photos/{body['id']}?size=original", headers=auth("planner"))
    assert no_original.status_code == 404


def test_photos_are_append_only(parcels, client, session):
    _send(client, parcels["XD-P1"], jpeg())
    for sql in ("UPDATE parcel_photos SET lon = 1, lat = 1", "DELETE FROM parcel_photos"):
        with pytest.raises(Exception, match="append-only"), session.begin_nested():
            session.execute(text(sql))
    assert count_rows("parcel_photos") == 1


def test_the_parcel_page_shows_the_photos_and_takes_one_without_its_script(parcels):
    from conftest import signed_in_page

    pid = parcels["XD-P1"]
    page = signed_in_page("land_xd")
    exif = exif_with("2017:05:02 09:15:30", lat=26.1234, lon=119.3456)
    files = {"photo": ("IMG_1.jpg", jpeg(2400, 1800, exif=exif), "image/jpeg")}
    sent = page.post(f"/parcels/{pid}/photos", files=files, data={"keep_original": "true"},
                     headers={"Origin": "http://testserver"}, follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303, sent.text
    shown = page.get(sent.headers["location"]).text
    assert "照片已保存" in shown and "/api/photos/1?size=thumb" in shown
    assert "2017-05-02 09:15" in shown and "119.345600, 26.123400" in shown
    assert "land_xd" in shown and 'href="/api/photos/1?size=original"' in shown
    assert 'capture="environment"' in shown and 'content="1600"' in shown
    display = page.get("/api/photos/1?size=display").content
    with Image.open(io.BytesIO(display)) as image:
        assert image.size == (1600, 1200)
    text_file = {"photo": ("a.txt", b"hello", "text/plain")}
    refused = page.post(f"/parcels/{pid}/photos", files=text_file,
                        headers={"Origin": "http://testserver", "Accept": "text/html"})  # fmt: skip
    assert refused.status_code == 400 and "不是照片" in refused.text
    leader = signed_in_page("leader_jinan").get(f"/parcels/%23{pid}").text
    assert "/api/photos/1?size=thumb" in leader and 'name="photo"' not in leader


def test_a_backup_counts_the_photos_and_a_restore_brings_them_back(client, parcels, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sqlalchemy import create_engine

    from geo_service import backup

    first = _send(client, parcels["XD-P1"], jpeg(), original=jpeg(2000, 1500)).json()
    _send(client, parcels["XD-P2"], jpeg())  # the same image again: its bytes kept once
    with database.session_scope() as session:
        expected = session.execute(
            text(
                "SELECT sum(size_bytes) FROM upload_files WHERE sha256 IN (SELECT sha256 "
                "FROM parcel_photos UNION SELECT display_sha256 FROM parcel_photos UNION "
                "SELECT thumb_sha256 FROM parcel_photos UNION SELECT original_sha256 "
                "FROM parcel_photos)"
            )  # fmt: skip
        ).scalar()
    dump = tmp_path / "geo.dump"
    cli = str(Path(sys.executable).parent / "geo-service")
    env = {**os.environ, "DATABASE_URL": database.get_settings().database_url}
    made = subprocess.run([cli, "backup", "--output", str(dump)], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"; 2 photos ({expected:,} bytes of images)" in made.stdout

    with scratch_database(database.get_settings().database_url, "photos_restored") as restored:
        done = backup.restore(restored, dump)
        assert done.endswith(f"; 2 photos ({expected:,} bytes of images)")
        engine = create_engine(restored)
        with engine.connect() as conn:
            kept = conn.execute(
                text("SELECT f.content FROM parcel_photos p JOIN upload_files f "
                     "ON f.sha256 = p.original_sha256 WHERE p.id = :id"), {"id": first["id"]},
            ).scalar()  # fmt: skip
        engine.dispose()
        assert bytes(kept) == client.get(first["original_url"], headers=auth("land_xd")).content


def test_gpkg_and_kmz_exports_carry_the_photos(client, parcels, tmp_path):
    import re
    import sqlite3
    import subprocess
    import zipfile

    first = _send(client, parcels["XD-P1"], jpeg(color=(10, 20, 30)), lon="119.3", lat="26.1",
                  taken_at="2017-05-02T10:30:00").json()  # fmt: skip
    second = _send(client, parcels["XD-P1"], jpeg(color=(40, 50, 60))).json()
    leader = auth("leader_jinan")

    gpkg = tmp_path / "parcels.gpkg"
    gpkg.write_bytes(client.get("/api/exports/parcels.gpkg", headers=leader).content)
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(gpkg), "parcel_photos"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert info.count("OGRFeature(parcel_photos)") == 2
    assert (
        "parcel_code (String) = XD-P1" in info
        and "taken_at (DateTime) = 2017/05/02 10:30:00+08" in info
    )
    assert "lon (Real) = 119.3" in info and "version (Integer64) = 1" in info
    listed = subprocess.run(["ogrinfo", "-ro", "-q", str(gpkg)], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert re.search(r"parcel_photos \(None\)", listed), listed
    with sqlite3.connect(gpkg) as db:
        kinds = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents"))
        blob = db.execute("SELECT photo FROM parcel_photos WHERE photo_id = ?",
                          (first["id"],)).fetchone()[0]  # fmt: skip
    assert kinds == {"parcels": "features", "parcel_photos": "attributes"}
    assert blob == client.get(first["url"], headers=leader).content

    kmz = client.get("/api/exports/parcels.kmz", headers=leader)
    assert kmz.status_code == 200
    assert kmz.headers["content-type"] == "application/vnd.google-earth.kmz"
    with zipfile.ZipFile(io.BytesIO(kmz.content)) as archive:
        names = archive.namelist()
        assert names[0] == "doc.kml"
        pid = parcels["XD-P1"]
        images = [f"images/{pid}-{first['id']}.jpg", f"images/{pid}-{second['id']}.jpg"]
        assert sorted(names[1:]) == images
        assert archive.read(images[0]) == client.get(first["url"], headers=leader).content
        kml = archive.read("doc.kml").decode()
    placemarks = re.findall(r"<Placemark.*?</Placemark>", kml, re.S)
    with_photos = [p for p in placemarks if "<img" in p]
    assert len(placemarks) == 2 and len(with_photos) == 1 and "XD-P1" in with_photos[0]
    assert all(f'src="{image}"' in with_photos[0] for image in images)
    # The KMZ reads back as a layer (GDAL's own reader: the description is HTML now).
    (tmp_path / "parcels.kmz").write_bytes(kmz.content)
    read = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(tmp_path / "parcels.kmz")],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "Feature Count: 2" in read
