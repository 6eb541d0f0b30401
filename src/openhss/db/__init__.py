"""Persistence: SQLAlchemy 2 models, repositories, Alembic migrations (same on SQLite and PostgreSQL)."""
