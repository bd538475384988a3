"""Ratings storage: SQLAlchemy models, repository functions and Alembic migrations (``migrations/``)."""

from evalapp.storage.db import check_reachable, make_engine, migrate, safe_url

__all__ = ["check_reachable", "make_engine", "migrate", "safe_url"]
