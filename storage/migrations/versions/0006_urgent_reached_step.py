"""urgent requests: the step whose handler was reached (Teams or e-mail)

Revision ID: 0006
Revises: 0003
Create Date: 2027-01-20 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reached_step", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.drop_column("reached_step")
