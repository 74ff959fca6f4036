"""The field app's server side (issue 25): the bundle a phone keeps, the Idempotency-Key on
the workflow POSTs (a replay answers the same and acts once), the position kept on the
version a change writes, and the manifest and service worker the browser installs from."""

import json

import pytest
import sqlalchemy as sa
from conftest import auth, count_rows, shared_app
from fastapi.testclient import TestClient
from parcelfiles import CM120E, XINDIAN, frame, rectangle, write
from sqlalchemy import select

from geo_service.database import session_scope
from geo_service.models import AuditEntry, Parcel, ParcelVersion
from geo_service.parcels.uploads import ImportOptions, import_file
from geo_service.parcels.workflow import set_status

CODES = ["FA-001", "FA-002", "FA-003"]
HERE = {"lon": 119.3601234, "lat": 26.1501234, "accuracy_m": 3.5}


@pytest.fixture
def api():
    with TestClient(shared_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def parcels(db, tmp_path) -> dict[str, int]:
    """Three land parcels of 新店镇: FA-001 and FA-002 delivered (in the queue), FA-003
    planned."""
    shapes = [rectangle(XINDIAN, 300 + 400 * n, 300, 200, 120) for n in range(3)]
    path = write(frame(shapes, code=CODES), tmp_path / "fa.gpkg", CM120E, "GPKG")
    with session_scope() as session:
        import_file(session, path, ImportOptions(kind="land", township="新店镇", actor="测绘队"))
        found = {p.code: p for p in session.scalars(select(Parcel).where(Parcel.code.in_(CODES)))}
        for code in CODES[:2]:
            for to in ("in_progress", "delivered"):
                set_status(session, found[code], to, "区征迁办")
        return {code: p.id for code, p in found.items()}


def test_bundle_holds_the_users_townships_parcels_and_queue(api, parcels):
    r = api.get("/api/field/bundle", headers=auth("land_xd"))
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert [f["properties"]["name"] for f in bundle["townships"]["features"]] == ["新店镇"]
    assert bundle["townships"]["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    found = {f["properties"]["code"]: f for f in bundle["parcels"]["features"]}
    assert sorted(found) == CODES
    first = found["FA-001"]["properties"]
    assert first["status"] == "delivered" and first["version"] == 3 and first["kind"] == "land"
    assert first["township"] == "新店镇" and first["area_m2"] == pytest.approx(24_000, rel=0.01)
    # The queue is the queue page's: what awaits this user's group, oldest change first.
    assert [row["code"] for row in bundle["queue"]] == CODES[:2]
    assert bundle["user"]["kinds"] == ["land"]
    # A demolition verifier has nothing in its queue here; the parcels are the same.
    other = api.get("/api/field/bundle", headers=auth("demolition_all")).json()
    assert other["queue"] == [] and len(other["parcels"]["features"]) == 3
    assert api.get("/api/field/bundle").status_code == 401


def test_a_bundle_asked_again_unchanged_is_not_sent_again(api, parcels):
    """The app asks every 20 s: with nothing changed the answer is 304 and no body; a
    change of a parcel, of a township or of who asks gives a new bundle."""
    first = api.get("/api/field/bundle", headers=auth("land_xd"))
    etag = first.headers["ETag"]
    again = api.get("/api/field/bundle", headers={**auth("land_xd"), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = api.get("/api/field/bundle", headers={**auth("demolition_all"), "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    with session_scope() as session:
        set_status(session, session.get(Parcel, parcels["FA-003"]), "in_progress", "区征迁办")
    changed = api.get("/api/field/bundle", headers={**auth("land_xd"), "If-None-Match": etag})
    assert changed.status_code == 200
    assert {f["properties"]["code"]: f["properties"]["status"]
            for f in changed.json()["parcels"]["features"]}["FA-003"] == "in_progress"  # fmt: skip
    etag = changed.headers["ETag"]
    with session_scope() as session:
        session.execute(sa.text("UPDATE admin_units SET name = '新店' WHERE name = '新店镇'"))
    try:
        renamed = api.get("/api/field/bundle", headers={**auth("land_xd"), "If-None-Match": etag})
        assert renamed.status_code == 200
        assert renamed.json()["townships"]["features"][0]["properties"]["name"] == "新店"
    finally:  # the reference units are kept between tests
        with session_scope() as session:
            session.execute(sa.text("UPDATE admin_units SET name = '新店镇' WHERE name = '新店'"))


def _from_compact(compact: dict) -> dict:
    """The compact parcels read back as the API documents them (field.js does the same)."""
    columns, scale = compact["columns"], compact["scale"]
    found, ident, x, y = {}, 0, 0, 0
    for n, polygons in enumerate(compact["geometry"]):
        ident += columns["id"][n]
        shape = []
        for rings in polygons:
            shape.append([])
            for flat in rings:
                ring = []
                for dx, dy in zip(flat[::2], flat[1::2], strict=True):
                    x, y = x + dx, y + dy
                    ring.append([x / scale, y / scale])
                shape[-1].append([*ring, ring[0]])
        properties = {name: values[n] for name, values in columns.items()}
        properties["id"] = ident
        properties["township"] = compact["townships"][str(properties["township_id"])]
        found[ident] = (shape, properties)
    return found


def test_the_compact_parcels_are_the_geojson_parcels_in_fewer_bytes(api, parcels):
    """What the field app asks for (?parcels=compact): the same parcels, properties and
    coordinates (to the 7 digits of the GeoJSON), under a validator of its own."""
    plain = api.get("/api/field/bundle", headers=auth("land_xd"))
    compact = api.get("/api/field/bundle?parcels=compact", headers=auth("land_xd"))
    assert compact.status_code == 200, compact.text
    assert compact.json()["parcels"]["type"] == "CompactParcels"
    decoded = _from_compact(compact.json()["parcels"])
    expected = {}
    for f in plain.json()["parcels"]["features"]:
        shape = f["geometry"]["coordinates"]
        shape = [shape] if f["geometry"]["type"] == "Polygon" else shape
        expected[f["id"]] = (shape, f["properties"])
    assert decoded == expected and sorted(p["code"] for _, p in decoded.values()) == CODES
    sizes = [len(json.dumps(r.json()["parcels"])) for r in (compact, plain)]
    assert sizes[0] < sizes[1] / 2, sizes
    assert compact.json()["queue"] == plain.json()["queue"]
    # One encoding's validator never stands for the other's body.
    assert compact.headers["ETag"] != plain.headers["ETag"]
    other = {**auth("land_xd"), "If-None-Match": plain.headers["ETag"]}
    assert api.get("/api/field/bundle?parcels=compact", headers=other).status_code == 200
    same = {**auth("land_xd"), "If-None-Match": compact.headers["ETag"]}
    assert api.get("/api/field/bundle?parcels=compact", headers=same).status_code == 304
    assert api.get("/api/field/bundle?parcels=wkb", headers=auth("land_xd")).status_code == 422


def test_a_replayed_sign_off_answers_the_same_and_acts_once(api, parcels):
    parcel = parcels["FA-001"]
    body = {"note": "界桩齐全", "version": 3, "position": HERE}
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0001"}
    first = api.post(f"/api/parcels/{parcel}/verify", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 4 and first.json()["position"] == HERE
    again = api.post(f"/api/parcels/{parcel}/verify", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with session_scope() as session:
        versions = session.scalars(
            select(ParcelVersion.change).where(ParcelVersion.parcel_id == parcel)
        ).all()
        audited = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "parcel.verify", AuditEntry.target.like("parcel FA-001 %")
            )
        ).all()
    assert versions.count("verified") == 1 and len(audited) == 1
    # Without the key the same request is judged again: the version moved on, a 409.
    plain = api.post(f"/api/parcels/{parcel}/verify", json=body, headers=auth("land_xd"))
    assert plain.status_code == 409, plain.text
    # The key is the user's: another user's same key is a request of its own.
    other = {**auth("land_all"), "Idempotency-Key": "phone-1-0001"}
    r = api.post(f"/api/parcels/{parcels['FA-002']}/verify", json={"version": 3}, headers=other)
    assert r.status_code == 200, r.text


def test_a_key_used_again_for_another_request_is_refused(api, parcels):
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0002"}
    r = api.post(f"/api/parcels/{parcels['FA-001']}/verify", json={"version": 3}, headers=headers)
    assert r.status_code == 200, r.text
    r = api.post(f"/api/parcels/{parcels['FA-002']}/verify", json={"version": 3}, headers=headers)
    assert r.status_code == 400 and "already used" in r.json()["detail"], r.text
    assert count_rows("replayed_requests") == 1
    bad = {**auth("land_xd"), "Idempotency-Key": "no spaces allowed"}
    r = api.post(f"/api/parcels/{parcels['FA-002']}/verify", json={"version": 3}, headers=bad)
    assert r.status_code == 422, r.text


def test_a_refusal_is_not_kept_and_says_why_in_the_requests_language(api, parcels):
    """A refused request changed nothing: nothing is kept, and the same key may be sent again
    once the reason is gone. The refusal carries the pages' words."""
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0003", "Accept-Language": "zh-CN"}
    planned = parcels["FA-003"]
    r = api.post(f"/api/parcels/{planned}/verify", json={"version": 1}, headers=headers)
    assert r.status_code in (400, 409, 422), r.text
    assert any("\u4e00" <= c <= "\u9fff" for c in r.json()["said"]), r.json()
    assert count_rows("replayed_requests") == 0
    stale = api.post(
        f"/api/parcels/{parcels['FA-001']}/dispute",
        json={"reason": "界桩缺失", "version": 2},
        headers={**auth("land_xd"), "Idempotency-Key": "phone-1-0004"},
    )
    assert stale.status_code in (400, 409), stale.text
    assert count_rows("replayed_requests") == 0


def test_the_position_is_kept_on_the_version_and_shown_in_the_history(api, parcels):
    parcel = parcels["FA-001"]
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0005"}
    r = api.post(f"/api/parcels/{parcel}/verify", json={"version": 3, "position": HERE},
                 headers=headers)  # fmt: skip
    assert r.status_code == 200, r.text
    r = api.post(f"/api/parcels/{parcel}/dispute", json={"reason": "界桩缺失", "version": 4},
                 headers=auth("land_xd"))  # fmt: skip
    assert r.status_code == 200, r.text
    steps = api.get(f"/api/parcels/{parcel}/history", headers=auth("land_xd")).json()
    signed, disputed = steps[-2], steps[-1]
    assert signed["change"] == "verified"
    assert signed["position_lon"] == pytest.approx(HERE["lon"], abs=1e-9)
    assert signed["position_lat"] == pytest.approx(HERE["lat"], abs=1e-9)
    assert signed["position_accuracy_m"] == 3.5
    assert disputed["position_lon"] is None
    nowhere = {"status": "delivered", "note": "复核", "position": {"lon": 200, "lat": 0}}
    r = api.post(f"/api/parcels/{parcel}/status", headers=auth("land_xd"), json=nowhere)
    assert r.status_code == 422, r.text


def test_manifest_and_service_worker_are_served_without_signing_in(api):
    r = api.get("/field/manifest.webmanifest")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(r.text)
    assert manifest["name"] == "现场核验" and manifest["display"] == "standalone"
    assert manifest["start_url"] == manifest["scope"] == "/field/"
    sizes = {icon["sizes"]: icon["src"] for icon in manifest["icons"]}
    assert set(sizes) == {"192x192", "512x512"}
    for size, src in sizes.items():
        icon = api.get(src)
        assert icon.status_code == 200 and icon.content[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(icon.content[16:20], "big")
        assert f"{width}x{width}" == size
    worker = api.get("/field/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
    shell = json.loads(worker.text.split("const SHELL = ", 1)[1].split(";\n", 1)[0])
    assert "/field/" in shell and any("leaflet-geoman" in url for url in shell)
    for url in shell[1:]:
        assert api.get(url).status_code == 200, url
    assert api.get("/field", follow_redirects=False).headers["location"] == "/field/"


def test_an_outline_sent_twice_with_one_key_is_stored_once(api, db, tmp_path):
    """The field app sends a captured outline as a one-feature GeoJSON through the upload
    checks; sent again with its key (the answer was lost), it is not stored again."""
    shape = rectangle(XINDIAN, 300, 800, 90, 70)
    path = write(frame([shape], code=["FA-NEW"]), tmp_path / "FA-NEW.geojson", 4326, "GeoJSON")
    form = {"kind": "land", "township": "新店镇"}
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0006"}

    def send():
        files = {"file": (path.name, path.read_bytes())}
        return api.post("/api/uploads", data=form, files=files, headers=headers)

    first, again = send(), send()
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert count_rows("uploads") == 1 and count_rows("parcel_versions") == 1


def test_a_refused_outline_sent_again_gets_the_same_refusal_and_writes_nothing(api, db, tmp_path):
    """A refused file's answer is kept under its key too: the phone that lost the 422 and
    sends the outline again hears the same refusal, and nothing is judged or stored again."""
    point = {"type": "Point", "coordinates": [XINDIAN[0], XINDIAN[1]]}
    feature = {"type": "Feature", "properties": {"code": "FA-BAD"}, "geometry": point}
    path = tmp_path / "FA-BAD.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    headers = {**auth("land_xd"), "Idempotency-Key": "phone-1-0007", "Accept-Language": "zh-CN"}

    def send():
        files = {"file": (path.name, path.read_bytes())}
        form = {"kind": "land", "township": "新店镇"}
        return api.post("/api/uploads", data=form, files=files, headers=headers)

    first = send()
    assert first.status_code == 422, first.text
    assert "not_polygon" in {p["rule"] for p in first.json()["report"]["problems"]}
    assert "Idempotent-Replayed" not in first.headers and count_rows("replayed_requests") == 1
    again = send()
    assert again.status_code == 422 and again.json() == first.json(), again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_rows("uploads") == count_rows("parcel_versions") == 0
    assert count_rows("replayed_requests") == 1
