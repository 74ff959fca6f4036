"""tally triggers: one spatial join for the overlap flags of inserted parcels, no JIT

An INSERT of a city's file (10⁵–10⁶ parcels) went through `tally_reflag`, which probes
the spatial index twice per new parcel (once for the parcels its outline meets, once more
for each of those in the EXISTS) and let PostgreSQL JIT-compile the plan (a second of
compiling for a statement that then runs a second). For an INSERT nothing can stop
overlapping, so one probe per new parcel is enough: the pairs of a new parcel and a
current parcel of the same kind whose interiors meet flag both; a new parcel in no pair
is not overlapping. UPDATE and DELETE keep 0009's full re-flagging (an outline that moves
or goes can leave its old neighbours alone). Same figures as before: the maintained-tally
tests compare them with the full recomputation.

Revision ID: 0016_tally_insert_flags
Revises: 0009_maintained_tallies
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_tally_insert_flags"
down_revision: str | None = "0009_maintained_tallies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = """
    township_id, kind, coalesce(project_id, 0) AS project_id, status,
    CASE WHEN status <> 'verified' THEN 0
         WHEN verified_at IS NULL THEN -1
         ELSE extract(year FROM verified_at AT TIME ZONE 'Asia/Shanghai')::int END
        AS verified_year
"""

# `(o.kind = n.kind) IS TRUE`: see 0009 (keeps the kind index out of the spatial probes).
_FLAG_INSERTED = """
        WITH pairs AS (
            SELECT n.id AS a, o.id AS b FROM new_rows n JOIN parcels o
              ON o.geom && n.geom AND o.id <> n.id AND (o.kind = n.kind) IS TRUE
             AND n.status <> 'withdrawn' AND o.status <> 'withdrawn'
             AND ST_Relate(o.geom, n.geom, 'T********')
        ), hit AS (
            SELECT a AS id FROM pairs UNION SELECT b FROM pairs
        ), wanted AS (
            SELECT n.id, false AS overlapping FROM new_rows n
            WHERE n.id NOT IN (SELECT id FROM hit)
            UNION ALL
            SELECT id, true FROM hit
        )
        UPDATE parcels p SET overlapping = w.overlapping
        FROM wanted w WHERE w.id = p.id AND p.overlapping IS DISTINCT FROM w.overlapping;"""


def _function(insert_flags: str) -> str:
    contribution = (
        "SELECT {key}, CASE WHEN overlapping THEN 0 ELSE {sign} END AS sign, "
        "{sign} * CASE WHEN overlapping THEN 0 ELSE area_m2::numeric END AS area "
        "FROM {rows} WHERE status <> 'withdrawn'"
    )
    new = contribution.format(key=_KEY, sign=1, rows="new_rows")
    old = contribution.format(key=_KEY, sign=-1, rows="old_rows")
    return f"""
CREATE OR REPLACE FUNCTION tally_maintain() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    ids int[];
    outlines geometry[];
    kinds text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM tally_add(ARRAY(SELECT ROW(c.*)::tally_delta FROM ({new}) c));
        {insert_flags}
        RETURN NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM tally_add(ARRAY(SELECT ROW(c.*)::tally_delta FROM ({new} UNION ALL {old}) c));
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
    IF outlines IS NOT NULL THEN
        PERFORM tally_reflag(coalesce(ids, ARRAY[]::int[]), outlines, kinds);
    END IF;
    RETURN NULL;
END $$
"""


_OLD_FLAGS = """SELECT array_agg(id), array_agg(geom), array_agg(kind) INTO ids, outlines, kinds
        FROM new_rows;
        PERFORM tally_reflag(ids, outlines, kinds);"""


def upgrade() -> None:
    op.execute(_function(_FLAG_INSERTED))
    op.execute("ALTER FUNCTION tally_reflag(int[], geometry[], text[]) SET jit = off")


def downgrade() -> None:
    op.execute("ALTER FUNCTION tally_reflag(int[], geometry[], text[]) RESET jit")
    op.execute(_function(_OLD_FLAGS))
    op.execute("ALTER FUNCTION tally_maintain() RESET jit")
