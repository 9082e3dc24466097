"""Stored scores: each round's scores of the pool, so a new process queries without rescoring.

Also indexes on labels.retracted_at and leases (released_at, expires_at), so a query finds the
retracted labels and the open leases without a pass over either log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create round_scores; older rounds have none (queries rescore them as before)."""
    op.create_table(
        "round_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_round_scores_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_scores")),
        sa.UniqueConstraint("round_id", "key", name="uq_round_scores_round_key"),
    )
    op.create_index("ix_labels_retracted_at", "labels", ["retracted_at"])
    op.create_index("ix_leases_open", "leases", ["released_at", "expires_at"])


def downgrade() -> None:
    """Drop round_scores and the two indexes; rounds, checkpoints and labels stay (queries rescore from the checkpoint)."""
    op.drop_index("ix_leases_open", table_name="leases")
    op.drop_index("ix_labels_retracted_at", table_name="labels")
    op.drop_table("round_scores")
