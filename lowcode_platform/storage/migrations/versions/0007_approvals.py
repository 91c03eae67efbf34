"""Approval flows at runtime: requests and their approvers' tasks.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_instances',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('flow', sa.String(length=63), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('request', JSON_DOCUMENT, nullable=False),
    sa.Column('submitter_id', sa.String(length=26), nullable=True),
    sa.Column('pending_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'record_id'], ['records.tenant_id', 'records.id'],
                            name=op.f('fk_approval_instances_tenant_id_records')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_approval_instances')),
    sa.UniqueConstraint('tenant_id', 'pending_key', name=op.f('uq_approval_instances_tenant_id')),
    )
    op.create_index('ix_approval_instances_record', 'approval_instances', ['tenant_id', 'record_id', 'created_at'],
                    unique=False)
    op.create_table('approval_tasks',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('instance_id', sa.String(length=26), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('approver_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('delegated_from', sa.String(length=26), nullable=True),
    sa.Column('comment', sa.String(length=2000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'instance_id'], ['approval_instances.tenant_id', 'approval_instances.id'],
                            name=op.f('fk_approval_tasks_tenant_id_approval_instances')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_approval_tasks')),
    )
    op.create_index('ix_approval_tasks_inbox', 'approval_tasks', ['tenant_id', 'approver_id', 'status'], unique=False)
    op.create_index('ix_approval_tasks_instance', 'approval_tasks', ['tenant_id', 'instance_id', 'step'], unique=False)
    op.create_index('ix_approval_tasks_due', 'approval_tasks', ['tenant_id', 'status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_approval_tasks_due', table_name='approval_tasks')
    op.drop_index('ix_approval_tasks_instance', table_name='approval_tasks')
    op.drop_index('ix_approval_tasks_inbox', table_name='approval_tasks')
    op.drop_table('approval_tasks')
    op.drop_index('ix_approval_instances_record', table_name='approval_instances')
    op.drop_table('approval_instances')
