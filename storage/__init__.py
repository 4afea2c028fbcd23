"""Durable store: SQLAlchemy models, repositories, encryption, audit trail and outbox."""
