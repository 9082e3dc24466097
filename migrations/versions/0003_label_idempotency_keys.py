"""An idempotency key per label, unique: a label write retried after an ambiguous commit finds its own row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add labels.idempotency_key (null for labels written before, and for imported ones) under a unique index."""
    op.add_column("labels", sa.Column("idempotency_key", sa.String(64), nullable=True))
    op.create_index("uq_labels_idempotency_key", "labels", ["idempotency_key"], unique=True)


def downgrade() -> None:
    """Drop the key and its index; the labels themselves stay."""
    op.drop_index("uq_labels_idempotency_key", table_name="labels")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("idempotency_key")
