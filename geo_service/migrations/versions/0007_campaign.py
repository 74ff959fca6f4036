"""campaign register: project townships and owner unit, milestone records, problem files

Projects get their owner unit (业主单位) and the townships they run in. A milestone's
completion is recorded, never overwritten: each record says when it was done (or that a
completion was withdrawn), who recorded it and when, so a past period sees what was on
record then. Problem files (问题档案): one row per problem with its current state, and
a version per change (who, when, the state it left).

Revision ID: 0007_campaign
Revises: 0003_accounts
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_campaign"
down_revision: str | None = "0006_relocation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _problem_state() -> list[sa.Column]:
    return [
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("responsible_unit", sa.Text(), nullable=True),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("solved_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    op.add_column("projects", sa.Column("owner_unit", sa.Text(), nullable=True))
    op.create_table(
        "project_townships",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("township_id", sa.Integer(), sa.ForeignKey("admin_units.id"), primary_key=True),
    )
    op.create_table(
        "milestone_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        _when("recorded_at"),
    )
    op.create_table(
        "project_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        *_problem_state(),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_by", sa.Text(), nullable=False),
        _when("created_at"),
        sa.Column("updated_by", sa.Text(), nullable=False),
        _when("updated_at"),
        sa.CheckConstraint("status IN ('open', 'solved')", name="problem_status_known"),
    )
    op.create_table(
        "project_problem_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "problem_id",
            sa.Integer(),
            sa.ForeignKey("project_problems.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        *_problem_state(),
        sa.Column("changed_by", sa.Text(), nullable=False),
        _when("changed_at"),
        sa.UniqueConstraint("problem_id", "version", name="uq_problem_version"),
    )


def downgrade() -> None:
    op.drop_table("project_problem_versions")
    op.drop_table("project_problems")
    op.drop_table("milestone_records")
    op.drop_table("project_townships")
    op.drop_column("projects", "owner_unit")
