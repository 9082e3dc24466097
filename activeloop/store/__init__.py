"""The store: SQLAlchemy models, schema upgrades through Alembic, and the Pool API."""

from activeloop.store.db import connect, head_revision, make_engine, normalize_url
from activeloop.store.pool import LeaseInfo, Pool, RoundInfo

__all__ = ["Pool", "RoundInfo", "LeaseInfo", "connect", "make_engine", "head_revision", "normalize_url"]
