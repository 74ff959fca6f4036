"""maintained tallies: per-township running totals and overlap flags, kept by triggers

Today's tallies (host credit) read `tally_totals` instead of measuring every parcel: one
row per township, kind, project, status and year of verification holds the count and the
summed area of the parcels that overlap nothing. `parcels.overlapping` says that
a parcel's interior meets another current parcel of the same kind: only those are unioned
at query time, and they are few.

Both are kept by statement-level triggers on `parcels`, in the writing transaction, so
no writer (import, workflow, withdrawal, restore) can forget them:
- a change of geometry, kind or withdrawal re-computes the overlap flag of the changed
  parcels and of every parcel their old or new outline meets (an UPDATE of
  `overlapping` only, which fires the trigger once more and re-counts those parcels);
- every change adds the new rows' contributions and takes away the old rows'.
`tally_rebuild()` recomputes everything from `parcels` (after a TRUNCATE, or to check).

Revision ID: 0009_maintained_tallies
Revises: 0015_relocation_signoff
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_maintained_tallies"
down_revision: str | None = "0015_relocation_signoff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A parcel's contribution: counted under its township, kind, project (0: none), status and
# the year (China Standard Time) it was verified in (-1: verified with no date, counted in
# every year as the full computation does; 0: not verified).
_KEY = """
    township_id, kind, coalesce(project_id, 0) AS project_id, status,
    CASE WHEN status <> 'verified' THEN 0
         WHEN verified_at IS NULL THEN -1
         ELSE extract(year FROM verified_at AT TIME ZONE 'Asia/Shanghai')::int END
        AS verified_year
"""

# `(a.kind = b.kind) IS TRUE`, not `a.kind = b.kind`: on a table fresh from a bulk insert
# (no statistics yet) the planner ANDed the kind index into every spatial probe, reading
# every parcel's index entry per probe (158 s for 70,000 new parcels instead of a second).
_SAME_KIND = "({a}.kind = {b}.kind) IS TRUE"
_OVERLAPS = f"""
    EXISTS (
        SELECT 1 FROM parcels o
        WHERE o.geom && {{p}}.geom AND o.id <> {{p}}.id AND {_SAME_KIND.format(a="o", b="{p}")}
          AND o.status <> 'withdrawn' AND ST_Relate(o.geom, {{p}}.geom, 'T********')
    )
"""


def _function() -> str:
    """tally_maintain(): one function for INSERT, UPDATE and DELETE statements."""
    contribution = (
        "SELECT {key}, CASE WHEN overlapping THEN 0 ELSE {sign} END AS sign, "
        "{sign} * CASE WHEN overlapping THEN 0 ELSE area_m2::numeric END AS area "
        "FROM {rows} WHERE status <> 'withdrawn'"
    )
    new = contribution.format(key=_KEY, sign=1, rows="new_rows")
    old = contribution.format(key=_KEY, sign=-1, rows="old_rows")
    return f"""
CREATE OR REPLACE FUNCTION tally_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids int[];
    outlines geometry[];
    kinds text[];
BEGIN
    -- A statement that changed nothing still fires: it must not start another round.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- Contributions: the new rows' added, the old rows' taken away.
    IF TG_OP = 'INSERT' THEN
        PERFORM tally_add(ARRAY(SELECT ROW(c.*)::tally_delta FROM ({new}) c));
        SELECT array_agg(id), array_agg(geom), array_agg(kind) INTO ids, outlines, kinds
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM tally_add(ARRAY(SELECT ROW(c.*)::tally_delta FROM ({new} UNION ALL {old}) c));
        -- Parcels whose outline, kind or withdrawal changed; an UPDATE of the flag alone
        -- (the round below) moves no outline, so it ends there.
        SELECT array_agg(n.id), array_agg(n.geom) || array_agg(o.geom),
               array_agg(n.kind) || array_agg(o.kind)
        INTO ids, outlines, kinds
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.kind <> o.kind OR (n.status = 'withdrawn') <> (o.status = 'withdrawn')
           OR NOT ST_OrderingEquals(n.geom, o.geom);
    ELSE
        PERFORM tally_add(ARRAY(SELECT ROW(c.*)::tally_delta FROM ({old}) c));
        SELECT array_agg(geom), array_agg(kind) INTO outlines, kinds FROM old_rows;
    END IF;
    -- Then the overlap flags of those parcels and of every parcel their old or new
    -- outline meets: an UPDATE of `overlapping` alone, which comes back through this
    -- trigger and moves those parcels' areas in or out of the totals.
    IF outlines IS NOT NULL THEN
        PERFORM tally_reflag(coalesce(ids, ARRAY[]::int[]), outlines, kinds);
    END IF;
    RETURN NULL;
END $$
"""


_DELTA_TYPE = """
CREATE TYPE tally_delta AS (
    township_id int, kind text, project_id int, status text, verified_year int,
    sign int, area numeric
)
"""

_ADD = """
CREATE OR REPLACE FUNCTION tally_add(deltas tally_delta[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tally_totals AS t (township_id, kind, project_id, status, verified_year,
                                   parcels, area_m2)
    SELECT township_id, kind, project_id, status, verified_year, sum(sign), sum(area)
    FROM unnest(deltas)
    GROUP BY township_id, kind, project_id, status, verified_year
    ON CONFLICT (township_id, kind, project_id, status, verified_year) DO UPDATE
        SET parcels = t.parcels + excluded.parcels, area_m2 = t.area_m2 + excluded.area_m2
$$
"""

# The parcels to flag again: the changed ones themselves, and every current parcel of the
# same kind that one of the given outlines (old or new) meets.
_REFLAG = f"""
CREATE OR REPLACE FUNCTION tally_reflag(ids int[], outlines geometry[], kinds text[])
RETURNS void LANGUAGE sql AS $$
    WITH near AS (
        SELECT unnest(ids) AS id
        UNION
        SELECT p.id FROM unnest(outlines, kinds) AS g(geom, kind)
        JOIN parcels p ON p.geom && g.geom AND {_SAME_KIND.format(a="p", b="g")}
    ), flagged AS (
        SELECT p.id, p.status <> 'withdrawn' AND {_OVERLAPS.format(p="p")} AS overlapping
        FROM parcels p JOIN near USING (id)
    )
    UPDATE parcels p SET overlapping = f.overlapping
    FROM flagged f WHERE f.id = p.id AND p.overlapping IS DISTINCT FROM f.overlapping
$$
"""

_REBUILD = f"""
CREATE OR REPLACE FUNCTION tally_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- The flags' own trigger runs move the totals too; they are counted afresh below.
    UPDATE parcels p SET overlapping = f.overlapping
    FROM (SELECT q.id, q.status <> 'withdrawn' AND {_OVERLAPS.format(p="q")} AS overlapping
          FROM parcels q) f
    WHERE f.id = p.id AND p.overlapping IS DISTINCT FROM f.overlapping;
    DELETE FROM tally_totals;
    INSERT INTO tally_totals (township_id, kind, project_id, status, verified_year,
                              parcels, area_m2)
    SELECT township_id, kind, project_id, status, verified_year,
           count(*) FILTER (WHERE NOT overlapping),
           coalesce(sum(area_m2::numeric) FILTER (WHERE NOT overlapping), 0)
    FROM (SELECT {_KEY}, overlapping, area_m2 FROM parcels WHERE status <> 'withdrawn') c
    GROUP BY township_id, kind, project_id, status, verified_year;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "parcels",
        sa.Column("overlapping", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "ix_parcels_overlapping", "parcels", ["kind"], postgresql_where=sa.text("overlapping")
    )
    op.create_table(
        "tally_totals",
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verified_year", sa.Integer(), nullable=False),
        sa.Column("parcels", sa.BigInteger(), nullable=False),
        # Exact sums of float8 areas: adding and taking away leaves no rounding behind.
        sa.Column("area_m2", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("township_id", "kind", "project_id", "status", "verified_year"),
    )
    op.execute(_DELTA_TYPE)
    op.execute(_ADD)
    op.execute(_REFLAG)
    op.execute(_function())
    op.execute(_REBUILD)
    for event in ("INSERT", "UPDATE", "DELETE"):
        rows = {
            "INSERT": "NEW TABLE AS new_rows",
            "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows",
        }[event]
        op.execute(
            f"CREATE TRIGGER parcels_tally_{event.lower()} AFTER {event} ON parcels "
            f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION tally_maintain()"
        )
    op.execute("SELECT tally_rebuild()")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER parcels_tally_{event} ON parcels")
    op.execute("DROP FUNCTION tally_maintain()")
    op.execute("DROP FUNCTION tally_rebuild()")
    op.execute("DROP FUNCTION tally_reflag(int[], geometry[], text[])")
    op.execute("DROP FUNCTION tally_add(tally_delta[])")
    op.execute("DROP TYPE tally_delta")
    op.drop_table("tally_totals")
    op.drop_index("ix_parcels_overlapping", table_name="parcels")
    op.drop_column("parcels", "overlapping")
