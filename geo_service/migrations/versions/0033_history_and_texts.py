"""joins relocation target history (0032r) with the cheaper feature text and versions'
key check (0032w)

The two were written side by side from 0031 and touch different objects: 0032r adds
relocation_target_versions, 0032w replaces the feature-text and versions' key-check
functions. A schema has one head; nothing to change here.

Revision ID: 0033_history_and_texts
Revises: 0032r_relocation_target_history, 0032w_cheaper_feature_text
Create Date: 2026-12-08
"""

from collections.abc import Sequence

revision: str = "0033_history_and_texts"
down_revision: str | Sequence[str] | None = (
    "0032r_relocation_target_history",
    "0032w_cheaper_feature_text",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
