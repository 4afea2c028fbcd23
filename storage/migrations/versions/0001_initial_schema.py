"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 10:47:15.658657
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("email_enc", sa.Text(), nullable=False),
        sa.Column("conversation_enc", sa.Text(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("preferred_contact", sa.String(length=20), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("lookup", name=op.f("uq_agents_lookup")),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_at"), ["at"], unique=False)

    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value_enc", sa.Text(), nullable=False),
        sa.Column("etag", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("aggregate_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_aggregate_id"), ["aggregate_id"], unique=False)
        batch_op.create_index("ix_outbox_ready", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "sync_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_object_id"), ["object_id"], unique=False)

    op.create_table(
        "absences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("start_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("replacement_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["replacement_id"], ["workers.id"], name=op.f("fk_absences_replacement_id_workers")),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_absences_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absences")),
    )
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_absences_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "appointments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("start_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("topic_enc", sa.Text(), nullable=False),
        sa.Column("message_enc", sa.Text(), nullable=False),
        sa.Column("notes_enc", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("outlook_event_id", sa.String(length=512), nullable=True),
        sa.Column("join_url", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_appointments_agent_id_agents")),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_appointments_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("reference", name=op.f("uq_appointments_reference")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_appointments_transaction_id")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index("ix_appointments_agent_start", ["agent_id", "start_at"], unique=False)
        batch_op.create_index("ix_appointments_worker_start", ["worker_id", "start_at"], unique=False)
        batch_op.create_index(
            "uq_appointments_active_slot",
            ["worker_id", "start_at"],
            unique=True,
            sqlite_where=sa.text("status IN ('requested', 'confirmed')"),
            postgresql_where=sa.text("status IN ('requested', 'confirmed')"),
        )

    op.create_table(
        "urgent_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("description_enc", sa.Text(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("availability_enc", sa.Text(), nullable=False),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("handler_id", sa.String(length=64), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_urgent_requests_agent_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_urgent_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_urgent_requests_reference")),
    )
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_urgent_requests_status"), ["status"], unique=False)

    op.create_table(
        "appointment_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_changes_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_changes")),
    )
    with op.batch_alter_table("appointment_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_changes_appointment_id"), ["appointment_id"], unique=False)

    op.create_table(
        "calendar_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("start_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_calendar_entries_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["worker_id"], ["workers.id"], name=op.f("fk_calendar_entries_worker_id_workers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_entries")),
    )
    with op.batch_alter_table("calendar_entries", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_entries_worker_start", ["worker_id", "start_at"], unique=False)
        batch_op.create_index("uq_calendar_entries_external", ["worker_id", "external_id"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        # Overlapping intervals of any length are refused for the same worker, even under
        # concurrent transactions; btree_gist lets the text column join the GiST index.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_no_overlap "
            "EXCLUDE USING gist (worker_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
            "WHERE (status IN ('requested', 'confirmed'))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE appointments DROP CONSTRAINT IF EXISTS ex_appointments_no_overlap")
    with op.batch_alter_table("calendar_entries", schema=None) as batch_op:
        batch_op.drop_index("uq_calendar_entries_external")
        batch_op.drop_index("ix_calendar_entries_worker_start")

    op.drop_table("calendar_entries")
    with op.batch_alter_table("appointment_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_changes_appointment_id"))

    op.drop_table("appointment_changes")
    with op.batch_alter_table("urgent_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_urgent_requests_status"))

    op.drop_table("urgent_requests")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_appointments_active_slot",
            sqlite_where=sa.text("status IN ('requested', 'confirmed')"),
            postgresql_where=sa.text("status IN ('requested', 'confirmed')"),
        )
        batch_op.drop_index("ix_appointments_worker_start")
        batch_op.drop_index("ix_appointments_agent_start")

    op.drop_table("appointments")
    with op.batch_alter_table("absences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_absences_worker_id"))

    op.drop_table("absences")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_object_id"))

    op.drop_table("workers")
    op.drop_table("sync_state")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_ready")
        batch_op.drop_index(batch_op.f("ix_outbox_aggregate_id"))

    op.drop_table("outbox")
    op.drop_table("bot_state")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_at"))

    op.drop_table("audit")
    op.drop_table("agents")
