"""Record lineage: what a conversion made or linked from a record.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('record_links',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('conversion', sa.String(length=63), nullable=False),
    sa.Column('target', sa.String(length=63), nullable=False),
    sa.Column('from_entity', sa.String(length=63), nullable=False),
    sa.Column('from_id', sa.String(length=26), nullable=False),
    sa.Column('to_entity', sa.String(length=63), nullable=False),
    sa.Column('to_id', sa.String(length=26), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=26), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'from_id'], ['records.tenant_id', 'records.id'],
                            name='fk_record_links_from_records'),
    sa.ForeignKeyConstraint(['tenant_id', 'to_id'], ['records.tenant_id', 'records.id'],
                            name='fk_record_links_to_records'),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_record_links')),
    sa.UniqueConstraint('tenant_id', 'from_id', 'conversion', 'target',
                        name=op.f('uq_record_links_tenant_id')),
    )
    op.create_index('ix_record_links_to', 'record_links', ['tenant_id', 'to_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_record_links_to', table_name='record_links')
    op.drop_table('record_links')
