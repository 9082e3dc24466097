"""Alembic revisions, one module each (``0001_...``, ``0002_...``)."""
