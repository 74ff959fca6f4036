"""sign-in throttles: failed attempts per user name and client address

Failed sign-ins used to be counted from the audit log, by name alone, after the password
was checked: anyone could lock any account (the admin's included) with five wrong
passwords, and forty attempts sent at once were all checked before any was counted. A row
here is one (name, address) pair; an attempt is counted in it by one upsert *before* its
password is checked, so concurrent attempts queue on the row and cannot pass the limit,
and a stranger's address never slows down the owner's.

Revision ID: 0022_signin_throttles
Revises: 0020_redundant_import_keys
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_signin_throttles"
down_revision: str | None = "0020_redundant_import_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE signin_throttles (
            username text NOT NULL,
            address text NOT NULL,
            attempts integer NOT NULL CHECK (attempts >= 0),
            last_attempt_at timestamptz NOT NULL DEFAULT now(),
            locked_until timestamptz,
            PRIMARY KEY (username, address)
        )
        """
    )
    # Pruning forgets pairs that have been quiet for a while.
    op.execute("CREATE INDEX ix_signin_throttles_last ON signin_throttles (last_attempt_at)")


def downgrade() -> None:
    op.execute("DROP TABLE signin_throttles")
