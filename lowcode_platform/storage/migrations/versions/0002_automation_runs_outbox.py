"""Automation runs (a trace per automation and record) and the outbox.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('automation_runs',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('automation', sa.String(length=63), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', JSON_DOCUMENT, nullable=False),
    sa.Column('actor_id', sa.String(length=26), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_automation_runs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_automation_runs'))
    )
    op.create_index('ix_automation_runs_automation', 'automation_runs', ['tenant_id', 'automation', 'id'], unique=False)
    op.create_index('ix_automation_runs_record', 'automation_runs', ['tenant_id', 'record_id', 'id'], unique=False)
    op.create_table('outbox',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('recipients', JSON_DOCUMENT, nullable=False),
    sa.Column('payload', JSON_DOCUMENT, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_outbox_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_outbox'))
    )
    op.create_index('ix_outbox_unsent', 'outbox', ['tenant_id', 'sent_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_unsent', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index('ix_automation_runs_record', table_name='automation_runs')
    op.drop_index('ix_automation_runs_automation', table_name='automation_runs')
    op.drop_table('automation_runs')
