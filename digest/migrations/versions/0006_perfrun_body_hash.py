"""perfrun: sources.body_hash, the fingerprint of the last feed body parsed (issue 14)

An unchanged feed (the same bytes, from the same URL, parsed by the same digest version) is
not parsed again: ``digest run`` compares the fingerprint of what it fetched with this one.

Revision ID: 0006_perfrun
Revises: 0005_workers
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_perfrun"
down_revision = "0005_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("body_hash", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("body_hash")
