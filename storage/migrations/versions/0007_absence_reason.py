"""absences: the reason an operator gave (encrypted), for `permanence absences declare --reason`

Revision ID: 0007
Revises: 0003
Create Date: 2027-02-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_enc", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.drop_column("reason_enc")
