"""The store: the tables (SQLAlchemy Core; ORM classes over them in ``schema``), Alembic upgrades, the Pool API."""

from activeloop.store.db import connect, head_revision, make_engine, normalize_url
from activeloop.store.leases import LeaseInfo
from activeloop.store.pool import Pool
from activeloop.store.rounds import RoundInfo

__all__ = ["Pool", "RoundInfo", "LeaseInfo", "connect", "make_engine", "head_revision", "normalize_url"]
