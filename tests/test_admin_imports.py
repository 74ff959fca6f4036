"""An admin's two kinds of import (actions._migrate, actions._bulk): each one audit record
naming the file and the township, with the fields that kind of import has always recorded."""

from dataclasses import replace

from parcelfiles import XINDIAN, frame, rectangle, write
from sqlalchemy import select

from geo_service import actions, database
from geo_service.accounts import users
from geo_service.models import AuditEntry
from geo_service.parcels.uploads import ImportOptions


def _record(session, action: str, upload_id: int) -> AuditEntry:
    # The audit log is kept between tests (conftest.KEPT_TABLES): other tests' bulk loads
    # are there too, so the record is found by its upload.
    found = session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
    [record] = [entry for entry in found if entry.details.get("upload_id") == upload_id]
    return record


def test_a_bulk_load_and_a_migration_each_leave_their_own_audit_record(db, tmp_path):
    shapes = [rectangle(XINDIAN, 150 * i, 2500, 100, 80) for i in range(3)]
    path = write(frame(shapes, code=["A", "B", "C"]), tmp_path / "新店.geojson", 4326, "GeoJSON")
    options = ImportOptions(kind="land", township="新店镇", status="delivered")
    with database.session_scope() as session:
        admin = users.acting_user(session, "admin_t")
        bulk = actions.upload(session, admin, path, replace(options, bulk=True))
        moved = actions.upload(session, admin, path, replace(options, migration=True))
    assert (bulk.created, moved.created, moved.unchanged) == (3, 0, 3)
    with database.session_scope() as session:
        loaded = _record(session, "upload.bulk", bulk.upload_id)
        migrated = _record(session, "upload.migration", moved.upload_id)
        assert loaded.username == migrated.username == "admin_t"
        assert loaded.target == migrated.target == "新店.geojson → 新店镇"
        assert loaded.details == {
            "upload_id": bulk.upload_id, "kind": "land", "status": "delivered",
            "parcels": 3, "created": 3, "changed": 0, "unchanged": 0, "area_m2": bulk.area_m2,
        }  # fmt: skip
        assert migrated.details == {
            "upload_id": moved.upload_id, "kind": "land",
            "parcels": 3, "created": 0, "changed": 0, "area_m2": moved.area_m2,
        }  # fmt: skip
