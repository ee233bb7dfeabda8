"""workers: a lease on claimed delivery rows (holder, expiry) so several workers can share
an edition and take over a dead one's rows; an index for claiming in id order

Revision ID: 0005_workers
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_workers"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("lease_holder", sa.Text(), nullable=True))
    op.add_column("deliveries", sa.Column("lease_expires_at", sa.DateTime(), nullable=True))
    op.create_index("ix_deliveries_claim", "deliveries", ["edition_id", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_holder")
