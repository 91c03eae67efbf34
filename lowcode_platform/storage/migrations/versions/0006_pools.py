"""Pools: the owner clocks on records, pool events and push cursors.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records') as batch:
        batch.add_column(sa.Column('owned_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('deal_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('protected_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('pool_warned_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('previous_owner_id', sa.String(length=26), nullable=True))
    op.execute("UPDATE records SET owned_at = created_at WHERE owner_id IS NOT NULL")
    op.execute("UPDATE records SET deal_at = won_at WHERE won_at IS NOT NULL")
    op.create_index('ix_records_pool', 'records', ['tenant_id', 'pool', 'entity'], unique=False)
    op.create_table('pool_events',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('pool', sa.String(length=63), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_owner', sa.String(length=26), nullable=True),
    sa.Column('to_owner', sa.String(length=26), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('comment', sa.String(length=2000), nullable=True),
    sa.Column('cleared', JSON_DOCUMENT, nullable=True),
    sa.Column('actor_id', sa.String(length=26), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'record_id'], ['records.tenant_id', 'records.id'],
                            name=op.f('fk_pool_events_tenant_id_records')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_pool_events')),
    )
    op.create_index('ix_pool_events_record', 'pool_events', ['tenant_id', 'record_id', 'at'], unique=False)
    op.create_index('ix_pool_events_claims', 'pool_events', ['tenant_id', 'to_owner', 'pool', 'at'], unique=False,
                    postgresql_where=sa.text("kind = 'claim'"), sqlite_where=sa.text("kind = 'claim'"))
    op.create_table('pool_cursors',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('pool', sa.String(length=63), nullable=False),
    sa.Column('last_user', sa.String(length=26), nullable=True),
    sa.Column('turns', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_pool_cursors_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'pool', name=op.f('pk_pool_cursors')),
    )


def downgrade() -> None:
    op.drop_table('pool_cursors')
    op.drop_index('ix_pool_events_claims', table_name='pool_events')
    op.drop_index('ix_pool_events_record', table_name='pool_events')
    op.drop_table('pool_events')
    op.drop_index('ix_records_pool', table_name='records')
    with op.batch_alter_table('records') as batch:
        batch.drop_column('previous_owner_id')
        batch.drop_column('pool_warned_at')
        batch.drop_column('protected_until')
        batch.drop_column('deal_at')
        batch.drop_column('owned_at')
