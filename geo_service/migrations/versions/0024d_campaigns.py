"""campaigns as data: a campaign's days and state, its targets, tallies keyed by day

A campaign office runs one campaign after another (2016年百日攻坚: a hundred days;
攻坚2017: a year), so a campaign is a row: its name, first and last day and state (under
way, closed). A target belongs to a campaign; each existing year's targets become the
campaign 攻坚<year> (1 January to 31 December), `targets.year` staying as the year the
campaign starts in.

The maintained totals (0009) were keyed by the year a parcel was verified in; a campaign
of any first and last day needs the day: `tally_totals.verified_day` is the day (China
Standard Time) a verified parcel was verified, '-infinity' for one verified with no date
(counted in every campaign, as before) and 'infinity' for a parcel not verified. A tally
sums the rows of the days in its campaign, at most a few hundred days per township, kind
and project. The kept overlap groups (0019) stay keyed by year: a calendar-year campaign
reads them as before, any other unions its few groups' verified members at query time.

Revision ID: 0024d_campaigns
Revises: 0023_history_append_only
Create Date: 2026-12-07
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0024d_campaigns"
down_revision: str | None = "0023_history_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision(name: str):
    """An earlier migration's module: its trigger functions are written again with the
    new key, the rest unchanged."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_YEAR_KEY = """CASE WHEN status <> 'verified' THEN 0
         WHEN verified_at IS NULL THEN -1
         ELSE extract(year FROM verified_at AT TIME ZONE 'Asia/Shanghai')::int END
        AS verified_year"""
_DAY_KEY = """CASE WHEN status <> 'verified' THEN date 'infinity'
         WHEN verified_at IS NULL THEN date '-infinity'
         ELSE (verified_at AT TIME ZONE 'Asia/Shanghai')::date END
        AS verified_day"""


def _functions(key_from: str, key_to: str, column_from: str, column_to: str, delta_type: str):
    """tally_add, tally_maintain and tally_rebuild for one key."""
    m9, m16 = _revision("0009_maintained_tallies"), _revision("0016_tally_insert_flags")
    m16._KEY = m16._KEY.replace(key_from, key_to)
    assert key_to in m16._KEY
    rebuild = m9._REBUILD.replace(key_from, key_to).replace(column_from, column_to)
    add = m9._ADD.replace(column_from, column_to)
    delta = m9._DELTA_TYPE.replace(f"{column_from} int", f"{column_to} {delta_type}")
    assert key_to in rebuild and column_to in add and column_to in delta
    return delta, add, m16._function(m16._FLAG_INSERTED), rebuild


def _rekey(key_from, key_to, column_from, column_to, delta_type) -> None:
    delta, add, maintain, rebuild = _functions(key_from, key_to, column_from, column_to, delta_type)
    op.execute("DROP FUNCTION tally_add(tally_delta[])")
    op.execute("DROP TYPE tally_delta")
    op.execute("DELETE FROM tally_totals")
    op.execute("ALTER TABLE tally_totals DROP CONSTRAINT tally_totals_pkey")
    op.drop_column("tally_totals", column_from)
    op.add_column(
        "tally_totals",
        sa.Column(column_to, sa.Date() if delta_type == "date" else sa.Integer(), nullable=False),
    )
    op.create_primary_key(
        "tally_totals_pkey",
        "tally_totals",
        ["township_id", "kind", "project_id", "status", column_to],
    )
    for sql in (delta, add, maintain, rebuild):
        op.execute(sql)
    op.execute("ALTER FUNCTION tally_maintain() SET jit = off")
    op.execute("SELECT tally_rebuild()")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="under_way"),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        # Who closed it and when: the state it left was "under way".
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("first_day <= last_day", name="campaign_days_ordered"),
        sa.CheckConstraint("state IN ('under_way', 'closed')", name="campaign_state_known"),
    )
    op.add_column("targets", sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id")))
    op.execute(
        """INSERT INTO campaigns (name, first_day, last_day, state, created_by)
        SELECT '攻坚' || year, make_date(year, 1, 1), make_date(year, 12, 31),
               CASE WHEN make_date(year, 12, 31)
                         < (now() AT TIME ZONE 'Asia/Shanghai')::date
                    THEN 'closed' ELSE 'under_way' END,
               'migration 0024d'
        FROM (SELECT DISTINCT year FROM targets) y ORDER BY year"""
    )
    op.execute(
        "UPDATE targets t SET campaign_id = c.id FROM campaigns c WHERE c.name = '攻坚' || t.year"
    )
    op.alter_column("targets", "campaign_id", nullable=False)
    op.drop_index("uq_target", table_name="targets")
    op.create_index(
        "uq_target",
        "targets",
        ["admin_unit_id", "kind", "campaign_id", sa.text("coalesce(quarter, 0)")],
        unique=True,
    )
    _rekey(_YEAR_KEY, _DAY_KEY, "verified_year", "verified_day", "date")


def downgrade() -> None:
    _rekey(_DAY_KEY, _YEAR_KEY, "verified_day", "verified_year", "int")
    op.drop_index("uq_target", table_name="targets")
    op.create_index(
        "uq_target",
        "targets",
        ["admin_unit_id", "kind", "year", sa.text("coalesce(quarter, 0)")],
        unique=True,
    )
    op.drop_column("targets", "campaign_id")
    op.drop_table("campaigns")
