"""overlap groups: the union areas of overlapping parcels kept, not taken on every tally

Today's tally adds the maintained totals of the parcels that overlap nothing (0009) and
unioned the flagged ones (`parcels.overlapping`) on every request: at a million parcels
with 0.2% of overlapping re-surveys that union was seconds per tally. The flagged parcels
fall apart into groups (connected by meeting outlines, within one kind); two groups'
unions never share interior, so the area of a union over any set of flagged parcels is
the sum over groups of the union of that set's members in each group. A group is two or
three parcels, and its unions are cheap to keep.

- `overlap_members`: each flagged current parcel's group (`group_id`: its lowest parcel id).
- `overlap_areas`: per group and per unit a tally groups by (level township, district or
  city, or a project within a district), the union areas (geodesic) of the group's
  members in that unit: verified, done (delivered, demolished, verified) and all. The
  verified union depends on the year tallied (a year counts its own verifications and
  undated ones): one row per year found among the members, and year 0 for a year with
  none of its own (the undated ones only). `township_id` is a member's township in that
  unit, for the tally's joins from township up to district and city.

Kept by statement triggers on `parcels` (after the tally triggers, whose flag UPDATEs
come through them too): the changed parcels that are or were flagged, the groups they
were in and every flagged parcel they meet are grouped and measured again.
`overlap_groups_rebuild()` does it for all (after a restore or rewritten history).

Revision ID: 0019_overlap_groups
Revises: 0018_overlap_history
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_overlap_groups"
down_revision: str | None = "0018_overlap_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (
    # Keyed and referenced by district like the parcels (0017); emptying parcels empties
    # both (a group's areas hang on its first parcel).
    """CREATE TABLE overlap_members (
        district_id integer NOT NULL, parcel_id integer NOT NULL, group_id integer NOT NULL,
        PRIMARY KEY (parcel_id, district_id),
        FOREIGN KEY (district_id, parcel_id) REFERENCES parcels (district_id, id)
            ON DELETE CASCADE)""",
    "CREATE INDEX ix_overlap_members_group ON overlap_members (group_id)",
    """CREATE TABLE overlap_areas (
        district_id integer NOT NULL, group_id integer NOT NULL, kind text NOT NULL,
        level text NOT NULL, unit_id integer NOT NULL, project_id integer NOT NULL,
        verified_year integer NOT NULL, township_id integer NOT NULL,
        verified_m2 float8 NOT NULL, done_m2 float8 NOT NULL, planned_m2 float8 NOT NULL,
        PRIMARY KEY (level, unit_id, project_id, group_id, verified_year, district_id),
        FOREIGN KEY (district_id, group_id) REFERENCES parcels (district_id, id)
            ON DELETE CASCADE)""",
    "CREATE INDEX ix_overlap_areas_group ON overlap_areas (group_id)",
)

_UNION_AREA = "coalesce(ST_Area((ST_Union(k.geom) FILTER (WHERE {}))::geography), 0)"
_MEASURE = f"""
CREATE FUNCTION overlap_groups_measure(groups int[]) RETURNS void
LANGUAGE sql SET jit = off AS $$
    WITH m AS (
        SELECT g.group_id, p.kind, p.township_id, t.parent_id AS district_unit,
               d.parent_id AS city_unit, coalesce(p.project_id, 0) AS project_id, p.geom,
               p.status IN ('delivered', 'demolished', 'verified') AS done,
               CASE WHEN p.status <> 'verified' THEN 0
                    WHEN p.verified_at IS NULL THEN -1
                    ELSE extract(year FROM p.verified_at AT TIME ZONE 'Asia/Shanghai')::int
               END AS verified_year
        FROM overlap_members g JOIN parcels p ON p.id = g.parcel_id
        JOIN admin_units t ON t.id = p.township_id JOIN admin_units d ON d.id = t.parent_id
        WHERE g.group_id = ANY(groups)
    ), keyed AS (
        SELECT m.*, u.level, u.unit_id, u.project_key
        FROM m CROSS JOIN LATERAL (VALUES
            ('township', m.township_id, 0), ('district', m.district_unit, 0),
            ('city', m.city_unit, 0), ('project', m.district_unit, m.project_id)
        ) u(level, unit_id, project_key)
        WHERE u.level <> 'project' OR m.project_id <> 0
    ), classes AS (
        SELECT DISTINCT group_id, level, unit_id, project_key, y
        FROM keyed CROSS JOIN LATERAL (VALUES (0), (greatest(verified_year, 0))) v(y)
    )
    INSERT INTO overlap_areas (district_id, group_id, kind, level, unit_id, project_id,
                               verified_year, township_id, verified_m2, done_m2, planned_m2)
    SELECT h.district_id, c.group_id, min(k.kind), c.level, c.unit_id, c.project_key, c.y,
           min(k.township_id),
           {_UNION_AREA.format("k.verified_year = -1 OR k.verified_year = c.y AND c.y > 0")},
           {_UNION_AREA.format("k.done")}, {_UNION_AREA.format("TRUE")}
    FROM classes c JOIN keyed k USING (group_id, level, unit_id, project_key)
    JOIN parcels h ON h.id = c.group_id
    GROUP BY h.district_id, c.group_id, c.level, c.unit_id, c.project_key, c.y
$$
"""

# The changed parcels, the groups they were in and the flagged parcels they meet, until
# nothing more is reached; then those are grouped afresh (groups of parcels whose
# outlines meet, within a kind) and measured.
_REFRESH = """
CREATE FUNCTION overlap_groups_refresh(seeds int[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    scope int[] := ARRAY(SELECT DISTINCT unnest(seeds));
    grown int[];
BEGIN
    IF cardinality(scope) = 0 THEN RETURN; END IF;
    LOOP
        grown := ARRAY(
            SELECT unnest(scope)
            UNION
            SELECT m.parcel_id FROM overlap_members s JOIN overlap_members m USING (group_id)
            WHERE s.parcel_id = ANY(scope)
            UNION
            SELECT o.id FROM parcels s JOIN parcels o
              ON o.geom && s.geom AND o.id <> s.id AND (o.kind = s.kind) IS TRUE
            WHERE s.id = ANY(scope) AND s.overlapping AND s.status <> 'withdrawn'
              AND o.overlapping AND o.status <> 'withdrawn' AND ST_Intersects(o.geom, s.geom));
        EXIT WHEN cardinality(grown) = cardinality(scope);
        scope := grown;
    END LOOP;
    DELETE FROM overlap_areas WHERE group_id IN (
        SELECT group_id FROM overlap_members WHERE parcel_id = ANY(scope));
    DELETE FROM overlap_members WHERE parcel_id = ANY(scope);
    INSERT INTO overlap_members (district_id, parcel_id, group_id)
    SELECT district_id, id, min(id) OVER (PARTITION BY kind, cluster)
    FROM (SELECT id, district_id, kind,
                 ST_ClusterDBSCAN(geom, 0, 1) OVER (PARTITION BY kind) AS cluster
          FROM parcels
          WHERE id = ANY(scope) AND overlapping AND status <> 'withdrawn') c;
    PERFORM overlap_groups_measure(ARRAY(
        SELECT DISTINCT group_id FROM overlap_members WHERE parcel_id = ANY(scope)));
END $$
"""

# The changed rows that are or were flagged, or a deleted parcel's flagged neighbours (its
# own membership is gone with it).
_MAINTAIN = """
CREATE FUNCTION overlap_groups_maintain() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM overlap_groups_refresh(ARRAY(SELECT id FROM new_rows WHERE overlapping));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM overlap_groups_refresh(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.overlapping OR o.overlapping)
              AND (n.overlapping, n.status, n.kind, n.township_id, n.project_id, n.verified_at)
                  IS DISTINCT FROM
                  (o.overlapping, o.status, o.kind, o.township_id, o.project_id, o.verified_at)
               OR (n.overlapping OR o.overlapping) AND NOT ST_OrderingEquals(n.geom, o.geom)));
    ELSE
        PERFORM overlap_groups_refresh(ARRAY(
            SELECT p.id FROM old_rows o JOIN parcels p
              ON p.geom && o.geom AND (p.kind = o.kind) IS TRUE AND p.overlapping
            WHERE o.overlapping));
    END IF;
    RETURN NULL;
END $$
"""

_REBUILD = """
CREATE FUNCTION overlap_groups_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM overlap_areas;
    DELETE FROM overlap_members;
    PERFORM overlap_groups_refresh(ARRAY(
        SELECT id FROM parcels WHERE overlapping AND status <> 'withdrawn'));
END $$
"""

_EVENTS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    for sql in (*_TABLES, _MEASURE, _REFRESH, _MAINTAIN, _REBUILD):
        op.execute(sql)
    # Named to sort after parcels_tally_<event>: statement triggers fire in name order, so
    # the flags of this statement are set when the groups are made.
    for event, rows in _EVENTS.items():
        op.execute(
            f"CREATE TRIGGER parcels_tally_{event.lower()}_groups AFTER {event} ON parcels "
            f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION overlap_groups_maintain()"
        )
    op.execute("SELECT overlap_groups_rebuild()")


def downgrade() -> None:
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER parcels_tally_{event.lower()}_groups ON parcels")
    for function in ("overlap_groups_rebuild()", "overlap_groups_maintain()",
                     "overlap_groups_refresh(int[])", "overlap_groups_measure(int[])"):  # fmt: skip
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP TABLE overlap_areas")
    op.execute("DROP TABLE overlap_members")
