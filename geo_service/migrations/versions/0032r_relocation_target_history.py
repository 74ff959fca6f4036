"""relocation target history: every value a relocation target had, who set it and when

Relocation targets were changed in place, so a tally for a past day measured what was
handed over then against today's target. Each relocation target now keeps its versions
(households, flats, m², who, valid from/to), like land and demolition targets (0004), and
a tally for a past day uses the value in force at the end of that day.

Existing targets get one version each, valid from when their value was recorded (their
`updated_at`: the last write, which is the value on record; the earlier values are only
in the audit log). `updated_at` is never NULL, but should one be missing the version
starts on the first day of its campaign, or on 1 January of its year. A target's first
value also counts for the days before it was set (as a land target's does), so a
campaign's early days are not left without one.

The versions are append-only and closed by the database when the next one is appended,
as every history table since 0023 (`history_append_only()`, and a close function of the
table's own).

Revision ID: 0032r_relocation_target_history
Revises: 0031_unlocked_and_targets
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032r_relocation_target_history"
down_revision: str | Sequence[str] | None = "0031_unlocked_and_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "relocation_target_versions"

# The same close as 0023's, for this table: SECURITY DEFINER, since the service's role
# may only read and append history.
_CLOSE = f"""
CREATE FUNCTION {TABLE}_close_previous() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    opened timestamptz;
BEGIN
    IF NEW.valid_to IS NOT NULL THEN
        RAISE EXCEPTION '{TABLE} %: a new version is open; valid_to is set by the database '
            'when the next version is appended', NEW.target_id USING ERRCODE = 'check_violation';
    END IF;
    SELECT v.valid_from INTO opened FROM public.{TABLE} v
    WHERE v.target_id = NEW.target_id AND v.valid_to IS NULL;
    IF opened > NEW.valid_from THEN
        RAISE EXCEPTION '{TABLE} %: a version from % is earlier than the open one (from %): '
            'history runs forwards', NEW.target_id, NEW.valid_from, opened
            USING ERRCODE = 'check_violation';
    END IF;
    IF opened IS NOT NULL THEN
        UPDATE public.{TABLE} v SET valid_to = NEW.valid_from
        WHERE v.target_id = NEW.target_id AND v.valid_to IS NULL;
    END IF;
    RETURN NEW;
END $$
"""

_FIRST_VERSIONS = f"""
INSERT INTO {TABLE}
    (target_id, version, households, flats, floor_area_m2, changed_by, valid_from)
SELECT t.id, 1, t.households, t.flats, t.floor_area_m2, t.updated_by,
       coalesce(t.updated_at, c.first_day::timestamp AT TIME ZONE 'Asia/Shanghai',
                make_date(t.year, 1, 1)::timestamp AT TIME ZONE 'Asia/Shanghai')
FROM relocation_targets t LEFT JOIN campaigns c ON c.id = t.campaign_id
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "target_id",
            sa.Integer(),
            sa.ForeignKey("relocation_targets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer()),
        sa.Column("flats", sa.Integer()),
        sa.Column("floor_area_m2", sa.Float()),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("target_id", "version", name="uq_relocation_target_version"),
    )
    op.create_index("ix_relocation_target_versions_target", TABLE, ["target_id", "valid_from"])
    op.execute(_FIRST_VERSIONS)
    op.execute(_CLOSE)
    op.execute(
        f"CREATE TRIGGER {TABLE}_close_previous BEFORE INSERT ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_close_previous()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
    )


def downgrade() -> None:
    # The table goes with its triggers; the targets keep their current values.
    op.drop_table(TABLE)
    op.execute(f"DROP FUNCTION {TABLE}_close_previous()")
