"""a version's key to its parcel checked once per statement, like its other keys (0026i)

The composite foreign key of parcel_versions to parcels (district_id, parcel_id; 0017)
ran a look-up and a row lock per version: about 1.5 s of an import of 100,000 new
parcels. The insert's statement trigger (0026i) now checks it with its other keys: the
distinct (district, parcel) pairs of the statement's versions are locked FOR KEY SHARE
in one join, as the foreign key locked them, and a pair that names no parcel is refused
with the foreign key's own words (foreign_key_violation). On the parcels' side, what the
foreign key did: a parcel whose history names it can be neither deleted (the cascade ran
into the history's append-only guard, 0023) nor renumbered, nor truncated away from its
history (TRUNCATE … CASCADE followed the key).

Revision ID: 0028i_version_parcel_keys
Revises: 0027_field_and_imports
Create Date: 2026-12-07
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0028i_version_parcel_keys"
down_revision: str | Sequence[str] | None = "0027_field_and_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "fk_parcel_versions_district_parcel"


def _keys_module():
    path = Path(__file__).with_name("0026i_setwise_imports.py")
    spec = importlib.util.spec_from_file_location("_migration_0026i", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# One join over the statement's distinct pairs: locked, and counted against the pairs.
_PARCEL_PAIRS = f"""
    WITH named AS (
        SELECT DISTINCT n.district_id, n.parcel_id FROM new_rows n
        WHERE n.district_id IS NOT NULL AND n.parcel_id IS NOT NULL
    ), found AS (
        SELECT p.id FROM public.parcels p
        JOIN named k ON p.district_id = k.district_id AND p.id = k.parcel_id
        FOR KEY SHARE OF p
    )
    SELECT (SELECT count(*) FROM named), (SELECT count(*) FROM found) INTO pairs, locked;
    IF locked < pairs THEN
        SELECT format('(%s, %s)', n.district_id, n.parcel_id) INTO pair FROM new_rows n
        WHERE n.district_id IS NOT NULL AND n.parcel_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM public.parcels p WHERE p.id = n.parcel_id
            AND p.district_id = n.district_id)
        LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "parcel_versions" violates foreign key '
            'constraint "{CONSTRAINT}"' USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (district_id, parcel_id)=%s is not present in table '
                            '"parcels".', pair);
    END IF;
    RETURN NULL;"""


def _versions_keys_check() -> str:
    body = _keys_module()._check_keys("parcel_versions")
    body = body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    body = body.replace("    missing bigint;", "    missing bigint;\n    pairs bigint;\n"
                        "    locked bigint;\n    pair text;", 1)  # fmt: skip
    assert body.count("\n    RETURN NULL;") == 1
    return body.replace("\n    RETURN NULL;", _PARCEL_PAIRS, 1)


_VERSIONS_KEPT = f"""
CREATE FUNCTION parcels_versions_kept() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM public.parcel_versions) THEN
            RAISE EXCEPTION 'parcel_versions is append-only: TRUNCATE of parcels refused'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.district_id = OLD.district_id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM public.parcel_versions v
               WHERE v.parcel_id = OLD.id AND v.district_id = OLD.district_id) THEN
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'parcel_versions is append-only: DELETE of parcel % refused '
                '(a parcel is withdrawn, never deleted)', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'update or delete on table "parcels" violates foreign key '
            'constraint "{CONSTRAINT}" on table "parcel_versions"'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$
"""


def upgrade() -> None:
    op.execute(f"ALTER TABLE parcel_versions DROP CONSTRAINT {CONSTRAINT}")
    op.execute(_versions_keys_check())
    op.execute(_VERSIONS_KEPT)
    op.execute(
        "CREATE TRIGGER parcels_versions_kept BEFORE DELETE OR UPDATE OF id, district_id "
        "ON parcels FOR EACH ROW EXECUTE FUNCTION parcels_versions_kept()"
    )
    op.execute(
        "CREATE TRIGGER parcels_versions_kept_truncate BEFORE TRUNCATE ON parcels "
        "FOR EACH STATEMENT EXECUTE FUNCTION parcels_versions_kept()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER parcels_versions_kept_truncate ON parcels")
    op.execute("DROP TRIGGER parcels_versions_kept ON parcels")
    op.execute("DROP FUNCTION parcels_versions_kept()")
    op.execute("DROP FUNCTION parcel_versions_keys_check() CASCADE")
    op.execute(_keys_module()._check_keys("parcel_versions"))
    op.execute(
        "CREATE TRIGGER parcel_versions_keys_insert AFTER INSERT ON parcel_versions "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION parcel_versions_keys_check()"
    )
    op.execute(
        f"ALTER TABLE parcel_versions ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY "
        "(district_id, parcel_id) REFERENCES parcels (district_id, id) ON DELETE CASCADE"
    )
