"""The district code in every large table's key (migration 0017): filled by the database
for every writer, the same as the township's district, and part of the keys a
partitioned or distributed (Citus) database would need."""

import pytest
from conftest import load_demo
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from geo_service import database

# Each large table, and the district its rows must carry.
EXPECTED_DISTRICT = {
    "parcels": "SELECT u.parent_id FROM admin_units u WHERE u.id = t.township_id",
    "parcel_versions": "SELECT u.parent_id FROM admin_units u WHERE u.id = t.township_id",
    "households": "SELECT u.parent_id FROM admin_units u WHERE u.id = t.township_id",
    # A supporting township may be in another district: the row follows its host parcel.
    "parcel_support": "SELECT p.district_id FROM parcels p WHERE p.id = t.parcel_id",
    "overlapped_parcels": "SELECT p.district_id FROM parcels p WHERE p.id = t.parcel_id",
    "overlap_members": "SELECT p.district_id FROM parcels p WHERE p.id = t.parcel_id",
    # A group's areas hang on its first parcel.
    "overlap_areas": "SELECT p.district_id FROM parcels p WHERE p.id = t.group_id",
}


def _scalar(sql: str, **params):
    with database.get_engine().connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_every_row_written_through_the_service_carries_its_district(db):
    load_demo()
    for table, expected in EXPECTED_DISTRICT.items():
        rows = _scalar(f"SELECT count(*) FROM {table}")
        assert rows > 0, f"the demo writes {table}"
        wrong = _scalar(
            f"SELECT count(*) FROM {table} t WHERE t.district_id IS DISTINCT FROM ({expected})"
        )
        assert wrong == 0, f"{wrong} of {rows} {table} rows carry another district"
    districts = _scalar("SELECT count(DISTINCT district_id) FROM parcels")
    assert districts >= 2, "the demo covers Jin'an and Cangshan"


@pytest.mark.parametrize(
    "constraint",
    # A version's key to its parcel is checked per statement (migration 0028i): below.
    ["uq_parcel_code", "uq_parcels_district_id", "uq_parcel_version",
     "fk_parcel_support_district_parcel", "fk_households_district_parcel"],
)  # fmt: skip
def test_the_keys_include_the_district(db, constraint):
    definition = _scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name",
        name=constraint,
    )
    assert definition is not None and "district_id" in definition, definition


def test_no_large_table_references_a_parcel_by_id_alone(db):
    # A parcels table partitioned by district cannot be referenced by id alone.
    by_id_alone = _scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
        "AND confrelid = 'parcels'::regclass AND array_length(conkey, 1) = 1"
    )
    assert by_id_alone == 0


def _other_district_township(conn, parcel_id: int) -> int:
    return conn.execute(
        text(
            "SELECT o.id FROM parcels p JOIN admin_units o ON o.level = 'township' "
            "AND o.parent_id <> p.district_id WHERE p.id = :p LIMIT 1"
        ),
        {"p": parcel_id},
    ).scalar_one()


def test_a_parcel_cannot_move_to_another_district(db):
    load_demo()
    with database.get_engine().connect() as conn:
        parcel = conn.execute(text("SELECT min(id) FROM parcels")).scalar_one()
        elsewhere = _other_district_township(conn, parcel)
        with pytest.raises(IntegrityError, match="cannot move to another district"):
            conn.execute(
                text("UPDATE parcels SET township_id = :t WHERE id = :p"),
                {"t": elsewhere, "p": parcel},
            )


def test_a_version_of_another_district_than_its_parcel_is_refused(db):
    load_demo()
    with database.get_engine().connect() as conn:
        parcel = conn.execute(text("SELECT min(id) FROM parcels")).scalar_one()
        elsewhere = _other_district_township(conn, parcel)
        with pytest.raises(IntegrityError, match="fk_parcel_versions_district_parcel"):
            conn.execute(
                text(
                    "INSERT INTO parcel_versions (parcel_id, version, change, code, kind, "
                    "status, township_id, geom, area_m2, changed_by, valid_from) "
                    "SELECT id, version + 100, 'edit', code, kind, status, :t, geom, "
                    "area_m2, 'test', now() FROM parcels WHERE id = :p"
                ),
                {"t": elsewhere, "p": parcel},
            )


@pytest.mark.parametrize(
    "statement",
    [
        # A version naming no parcel (migration 0028i checks the pair per statement).
        "INSERT INTO parcel_versions (parcel_id, version, change, code, kind, status, "
        "township_id, geom, area_m2, changed_by, valid_from) "
        "SELECT id + 1000000, 1, 'edit', code, kind, status, township_id, geom, area_m2, "
        "'test', now() FROM parcels WHERE id = :p",
        # A parcel its history names cannot be renumbered away from it.
        "UPDATE parcels SET id = id + 1000000 WHERE id = :p",
    ],
)
def test_a_version_names_an_existing_parcel(db, statement):
    load_demo()
    with database.get_engine().connect() as conn:
        parcel = conn.execute(text("SELECT min(id) FROM parcels")).scalar_one()
        with pytest.raises(IntegrityError, match="fk_parcel_versions_district_parcel"):
            conn.execute(text(statement), {"p": parcel})


_VERSION_OF = (
    "INSERT INTO parcel_versions (parcel_id, version, change, code, kind, status, "
    "township_id, geom, area_m2, changed_by, valid_from) "
    "SELECT id, version + 100, 'edit', code, kind, status, township_id, geom, area_m2, "
    "'test', now() FROM parcels WHERE id = :p"
)


def test_a_version_locks_its_parcel_of_another_transaction(db):
    """The parcel a new version names stays until the version's transaction ends, as the
    foreign key kept it: locked FOR KEY SHARE, so a FOR UPDATE of it must wait (migration
    0030i leaves unlocked only parcels the same transaction wrote, which no other sees)."""
    load_demo()
    engine = database.get_engine()
    with engine.connect() as writer, engine.connect() as other:
        parcel = writer.execute(text("SELECT min(id) FROM parcels")).scalar_one()
        writer.execute(text(_VERSION_OF), {"p": parcel})
        with pytest.raises(OperationalError, match="could not obtain lock"):
            other.execute(text("SELECT 1 FROM parcels WHERE id = :p FOR UPDATE NOWAIT"),
                          {"p": parcel})  # fmt: skip
        other.rollback()
        writer.rollback()
        # Ended, the lock is gone.
        assert (
            other.execute(
                text("SELECT 1 FROM parcels WHERE id = :p FOR UPDATE NOWAIT"), {"p": parcel}
            ).scalar_one()
            == 1
        )


def test_versions_of_parcels_written_in_the_same_transaction_are_checked(db):
    """A parcel inserted and given a version in one transaction passes the check without
    a lock; one inserted in a savepoint (another xmin) is locked and passes as well."""
    load_demo()
    with database.get_engine().connect() as conn:
        parcel = conn.execute(text("SELECT min(id) FROM parcels")).scalar_one()
        copy = (
            "INSERT INTO parcels (code, kind, township_id, status, geom, area_m2, created_by, "
            "updated_by, version) SELECT code || :suffix, kind, township_id, status, geom, "
            "area_m2, 'test', 'test', 1 FROM parcels WHERE id = :p RETURNING id"
        )
        own = conn.execute(text(copy), {"p": parcel, "suffix": "-a"}).scalar_one()
        conn.execute(text(_VERSION_OF), {"p": own})
        savepoint = conn.begin_nested()
        nested = conn.execute(text(copy), {"p": parcel, "suffix": "-b"}).scalar_one()
        savepoint.commit()
        conn.execute(text(_VERSION_OF), {"p": nested})
        versions = conn.execute(
            text("SELECT count(*) FROM parcel_versions WHERE parcel_id = ANY(:ids)"),
            {"ids": [own, nested]},
        ).scalar_one()
        assert versions == 2
        conn.rollback()
