"""indexes for the hot queries at scale: appointments by start (reports, purge) and by
Outlook event (every event a calendar sync reads), the outbox's pending messages in claim order

Revision ID: 0009
Revises: 0003
Create Date: 2027-01-20 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index("ix_appointments_start", "appointments", ["start_at"])
    op.create_index("ix_appointments_outlook_event", "appointments", ["outlook_event_id"])
    op.create_index("ix_outbox_pending", "outbox", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_index("ix_appointments_outlook_event", table_name="appointments")
    op.drop_index("ix_appointments_start", table_name="appointments")
