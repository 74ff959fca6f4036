"""joins the field app and its photos (0026f_with_photos) with the set-wise imports (0026i)

No change of its own: the two were written side by side from 0025, and a schema has one
head.

Revision ID: 0027_field_and_imports
Revises: 0026f_with_photos, 0026i_setwise_imports
Create Date: 2026-12-07
"""

from collections.abc import Sequence

revision: str = "0027_field_and_imports"
down_revision: str | Sequence[str] | None = ("0026f_with_photos", "0026i_setwise_imports")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
