"""Stage pipelines: each record's probability and forecast category, and its stage history.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records') as batch:
        batch.add_column(sa.Column('probability', sa.Numeric(precision=5, scale=2), nullable=True))
        batch.add_column(sa.Column('forecast_category', sa.String(length=16), nullable=True))
    op.create_table('stage_history',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('pipeline', sa.String(length=63), nullable=False),
    sa.Column('from_stage', sa.String(length=63), nullable=True),
    sa.Column('to_stage', sa.String(length=63), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds_in_from', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.String(length=26), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('comment', sa.String(length=2000), nullable=True),
    sa.Column('override', sa.Boolean(), nullable=False),
    sa.Column('override_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'record_id'], ['records.tenant_id', 'records.id'],
                            name=op.f('fk_stage_history_tenant_id_records')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_stage_history'))
    )
    op.create_index('ix_stage_history_pipeline', 'stage_history', ['tenant_id', 'pipeline', 'to_stage', 'at'],
                    unique=False)
    op.create_index('ix_stage_history_record', 'stage_history', ['tenant_id', 'record_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_stage_history_record', table_name='stage_history')
    op.drop_index('ix_stage_history_pipeline', table_name='stage_history')
    op.drop_table('stage_history')
    with op.batch_alter_table('records') as batch:
        batch.drop_column('forecast_category')
        batch.drop_column('probability')
