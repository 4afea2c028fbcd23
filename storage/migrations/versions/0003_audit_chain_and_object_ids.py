"""audit chain (seq, prev_mac, mac, operator) and agents' encrypted Entra object id

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_mac", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_seq"), ["seq"])
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_id_enc", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("object_id_enc")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_seq"), type_="unique")
        batch_op.drop_column("mac")
        batch_op.drop_column("prev_mac")
        batch_op.drop_column("seq")
        batch_op.drop_column("operator")
