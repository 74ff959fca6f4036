"""history the service cannot rewrite: every history table append-only, versions closed
by the database

Before this, only `audit_log` and `upload_files` refused every change, and
`parcel_versions` took any UPDATE that closed its open version: the service's role could
end a version twenty years before it began, and rewrite or delete target, relocation and
problem versions, milestone records and uploads at will.

Now every history table refuses UPDATE, DELETE and TRUNCATE by trigger, whoever connects:
parcel_versions, target_versions, relocation_versions (`history_append_only()`),
project_problem_versions, milestone_records, uploads, upload_files and audit_log
(`refuse_change()` / `audit_log_append_only()`). The one change a version takes is its
close, and only the database makes it: inserting a new version of a record runs
`<table>_close_previous()`, which sets the open version's `valid_to` to the new one's
`valid_from`. `history_append_only()` lets that UPDATE through only from within a trigger
(pg_trigger_depth() > 1), only from NULL to a moment not before the version's start, and
only when nothing else changes. A new version dated before the open one, or inserted
already closed, is refused (check_violation: a write conflict, HTTP 409).

The closing functions are SECURITY DEFINER (the owner's), so the service's role needs no
UPDATE on any history table: `geo-service db app-role` grants it SELECT and INSERT only
(geo_service/roles.py). The owner restores dumps (pg_restore creates the triggers after
loading the rows) and may empty tables with the triggers off (session_replication_role =
replica, as the tests do, or ALTER TABLE ... DISABLE TRIGGER).

Revision ID: 0023_history_append_only
Revises: 0022_signin_throttles
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_history_append_only"
down_revision: str | None = "0022_signin_throttles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Versioned tables, and the columns naming the record a version belongs to.
VERSIONED = {
    "parcel_versions": ("parcel_id",),
    "target_versions": ("target_id",),
    "relocation_versions": ("entity", "entity_id"),
}
# Rows written once and never changed.
WRITTEN_ONCE = ("project_problem_versions", "milestone_records", "uploads")
# Every history table that had no TRUNCATE trigger (audit_log has had one since 0003).
NO_TRUNCATE = (*VERSIONED, *WRITTEN_ONCE, "upload_files")

_GUARD = """
CREATE OR REPLACE FUNCTION history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    closing timestamptz;
BEGIN
    -- The one change a version takes: its close, made by <table>_close_previous() when the
    -- next version is appended (one trigger level down), never by a statement of its own.
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 AND OLD.valid_to IS NULL
            AND NEW.valid_to >= OLD.valid_from THEN
        closing := NEW.valid_to;
        NEW.valid_to := NULL;
        IF NEW IS NOT DISTINCT FROM OLD THEN
            NEW.valid_to := closing;
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused (append a new version; the database '
        'closes the one before)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""

# As it was in 0013b, for the downgrade.
_GUARD_BEFORE = """
CREATE OR REPLACE FUNCTION history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    closing timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.valid_to IS NULL AND NEW.valid_to IS NOT NULL THEN
        -- Closing the open version is the one change a history row may take.
        closing := NEW.valid_to;
        NEW.valid_to := NULL;
        IF NEW IS NOT DISTINCT FROM OLD THEN
            NEW.valid_to := closing;
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused (withdraw a parcel instead of deleting it)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _close_function(table: str, keys: tuple[str, ...]) -> str:
    """Static SQL per table (a plan kept for the whole session), run as the owner: the
    service's role has no UPDATE on the table."""
    same = " AND ".join(f"v.{k} = NEW.{k}" for k in keys)
    record = " || ' ' || ".join(f"NEW.{k}" for k in keys)
    return f"""
CREATE FUNCTION {table}_close_previous() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    opened timestamptz;
BEGIN
    IF NEW.valid_to IS NOT NULL THEN
        RAISE EXCEPTION '{table} %: a new version is open; valid_to is set by the database '
            'when the next version is appended', {record} USING ERRCODE = 'check_violation';
    END IF;
    SELECT v.valid_from INTO opened FROM public.{table} v
    WHERE {same} AND v.valid_to IS NULL;
    IF opened > NEW.valid_from THEN
        RAISE EXCEPTION '{table} %: a version from % is earlier than the open one (from %): '
            'history runs forwards', {record}, NEW.valid_from, opened
            USING ERRCODE = 'check_violation';
    END IF;
    IF opened IS NOT NULL THEN
        UPDATE public.{table} v SET valid_to = NEW.valid_from WHERE {same} AND v.valid_to IS NULL;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.execute(_GUARD)
    for table, keys in VERSIONED.items():
        op.execute(_close_function(table, keys))
        op.execute(
            f"CREATE TRIGGER {table}_close_previous BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_close_previous()"
        )
        if table != "parcel_versions":  # guarded since 0013b
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
            )
    for table in WRITTEN_ONCE:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )
    for table in NO_TRUNCATE:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )


def downgrade() -> None:
    for table in NO_TRUNCATE:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    for table in WRITTEN_ONCE:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    for table in VERSIONED:
        if table != "parcel_versions":
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER {table}_close_previous ON {table}")
        op.execute(f"DROP FUNCTION {table}_close_previous()")
    op.execute(_GUARD_BEFORE)
