"""urgent_requests: « Je suis en danger / j'ai des idées suicidaires maintenant » (encrypted)

Revision ID: 0011
Revises: 0010
Create Date: 2027-03-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("danger_enc", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.drop_column("danger_enc")
