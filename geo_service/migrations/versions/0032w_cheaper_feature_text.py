"""an import's share of PostgreSQL made cheaper: the parcels' stored feature text (0028a)
without a to_json call a member when no value needs escaping, and the versions' key check
(0030i) without sorting the statement's pairs (issue 26)

PostgreSQL 15's to_json looks its argument's type up in the catalog caches at every call,
and 0028a made twenty calls a parcel. Numbers print the same through their cast to text
(a float that is not finite prints quoted and keeps to_json), and a text needs escaping
only when to_json changes it: one call over a row's texts joined says whether any of them
does. Those rows (rare: a survey office's names and notes) keep 0028a's expression, the
others are quoted directly, so the stored text is byte for byte what 0028a wrote and no
row is rewritten. New parcels' text is inserted without ON CONFLICT (a stale text in the
way, left by a TRUNCATE, undoes that insert and is written over as before).

An import analyses the text's keys (store.write_staged): the default sample of 30,000 rows
read every page of the table (a kilobyte a row), 0.1 s per 100,000 parcels and more as
the table grows; 3,000 rows tell a unique id and a handful of districts as well.

The versions' key check counted the statement's distinct (district, parcel) pairs, a
sort or hash of every row; each row is looked up once by the join anyway, and a pair
named twice is counted, found and locked twice, so the counts still agree.

Revision ID: 0032w_cheaper_feature_text
Revises: 0031_unlocked_and_targets
Create Date: 2026-12-08
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0032w_cheaper_feature_text"
down_revision: str | Sequence[str] | None = "0031_unlocked_and_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each member's value and how it prints: "int" and "jsonb" through their text output (what
# to_json writes for them), "float" the same when finite, "text" between quotes.
_HEAD = (("id", "n.id", "int"), ("code", "n.code", "text"), ("name", "n.name", "text"),
         ("kind", "n.kind", "text"), ("status", "n.status", "text"))  # fmt: skip
_AREAS = (("area_m2", "n.area_m2", "float"), ("area_mu", "n.area_m2 / (10000.0 / 15)", "float"),
          ("declared_m2", "n.declared_m2", "float"), ("source_file", "n.source_file", "text"),
          ("version", "n.version", "int"), ("created_by", "n.created_by", "text"))  # fmt: skip
_UPDATED = (("updated_by", "n.updated_by", "text"),)
_VERIFIED = (("verified_by", "n.verified_by", "text"),
             ("verified_group", "n.verified_group", "text"))  # fmt: skip
_NOTES = (("verification_note", "n.verification_note", "text"),
          ("verified_area_m2", "n.verified_area_m2", "float"),
          ("dispute_reason", "n.dispute_reason", "text"))  # fmt: skip
_WITHDRAWN = (("withdrawn_by", "n.withdrawn_by", "text"),
              ("withdrawn_reason", "n.withdrawn_reason", "text"), ("flags", "n.flags", "jsonb"))  # fmt: skip
_GROUPS = (_HEAD, _AREAS, _UPDATED, _VERIFIED, _NOTES, _WITHDRAWN)
_TEXTS = [expr for group in _GROUPS for _key, expr, kind in group if kind == "text"]

# Escaping works character by character, so a row's texts need none when their
# concatenation comes out of to_json only wrapped in quotes: one call a row, and to_json
# itself says what it escapes.
_ALL_TEXTS = f"concat({', '.join(_TEXTS)})"
_PLAIN = f"""to_json({_ALL_TEXTS})::text = '"' || {_ALL_TEXTS} || '"'"""


def _escaped(expr: str, kind: str) -> str:
    return f"to_json({expr})::text"


def _direct(expr: str, kind: str) -> str:
    if kind == "text":
        return f"""'"' || {expr} || '"'"""
    if kind == "float":
        # x - x is 0 for a finite x, NaN for the infinities and NaN.
        return (
            f"CASE WHEN ({expr}) - ({expr}) = 0 THEN ({expr})::text ELSE to_json({expr})::text END"
        )
    return f"({expr})::text"


def _members(group, value) -> str:
    """An object's members as json_build_object writes them, without the braces."""
    pairs = (
        f"""'"{key}" : ' || coalesce({value(expr, kind)}, 'null')""" for key, expr, kind in group
    )
    return "(" + " || ', ' || ".join(pairs) + ")"


def _parts(value) -> str:
    head, areas, updated, verified, notes, withdrawn = (_members(g, value) for g in _GROUPS)
    return f"""ARRAY[
    '{{"type": "Feature", "id": ' || n.id || ', "geometry": '
        || coalesce(ST_AsGeoJSON(ST_ForcePolygonCCW(n.geom), 7, 0), 'null')
        || ', "properties": {{' || {head} || ', "township" : ',
    ', ' || {areas} || ', "created_at" : ',
    ', ' || {updated} || ', "updated_at" : ',
    ', ' || {verified} || ', "verified_at" : ',
    ', ' || {notes} || ', "withdrawn_at" : ',
    ', ' || {withdrawn} || ', "supporters" : '
]"""


OLD_PARTS = _parts(_escaped)
PARTS = f"CASE WHEN {_PLAIN} THEN {_parts(_direct)} ELSE {OLD_PARTS} END"


def _module(name: str):
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_DISTINCT_PAIRS = """FROM (SELECT DISTINCT n.district_id, n.parcel_id FROM new_rows n
          WHERE n.district_id IS NOT NULL AND n.parcel_id IS NOT NULL) k"""


def _versions_keys_check() -> str:
    before = _module("0030i_own_parcels_unlocked")._versions_keys_check()
    assert before.count(_DISTINCT_PAIRS) == 1 and before.count("SELECT count(*), ") == 1
    after = before.replace(_DISTINCT_PAIRS, "FROM new_rows k", 1)
    return after.replace(
        "SELECT count(*), ",
        "SELECT count(*) FILTER (WHERE k.district_id IS NOT NULL AND k.parcel_id IS NOT NULL), ",
        1,
    )


def _keep(parts: str) -> str:
    # Unchanged text is not written again (the tallies' overlap flag, say, is not in it).
    return f"""
        CREATE OR REPLACE FUNCTION parcel_features_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO parcel_features (district_id, parcel_id, parts)
            SELECT n.district_id, n.id, {parts} FROM new_rows n
            ON CONFLICT (district_id, parcel_id) DO UPDATE SET parts = EXCLUDED.parts
            WHERE parcel_features.parts IS DISTINCT FROM EXCLUDED.parts;
            RETURN NULL;
        END $$
    """


def _keep_new(parts: str) -> str:
    """New parcels' text is inserted plainly: ON CONFLICT's speculative insertion cost
    about 0.1 s per 100,000. A text can only be there already when its parcel went without
    its triggers (a TRUNCATE, or with triggers off) and the id came back: then the insert
    is undone and the text written over, as before."""
    keep = _keep(parts)
    plain = f"""
        BEGIN
            IF TG_OP = 'INSERT' THEN
                BEGIN
                    INSERT INTO parcel_features (district_id, parcel_id, parts)
                    SELECT n.district_id, n.id, {parts} FROM new_rows n;
                    RETURN NULL;
                EXCEPTION WHEN unique_violation THEN
                    NULL;
                END;
            END IF;"""
    assert keep.count("\n        BEGIN") == 1
    return keep.replace("\n        BEGIN", plain, 1)


def _key_statistics(target: int) -> str:
    return (
        f"ALTER TABLE parcel_features ALTER COLUMN district_id SET STATISTICS {target}, "
        f"ALTER COLUMN parcel_id SET STATISTICS {target}"
    )


def upgrade() -> None:
    op.execute(_keep_new(PARTS))
    op.execute(_versions_keys_check())
    op.execute(_key_statistics(10))


def downgrade() -> None:
    op.execute(_key_statistics(-1))
    op.execute(_module("0030i_own_parcels_unlocked")._versions_keys_check())
    op.execute(_keep(OLD_PARTS))
