"""Platform tables: tenants, config versions, teams, users, records, unique values, audit log.

Revision ID: 0001
Revises: 
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('active_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug'))
    )
    op.create_table('audit_log',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=26), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=False),
    sa.Column('changes', JSON_DOCUMENT, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_audit_log_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_record', ['tenant_id', 'record_id', 'id'], unique=False)

    op.create_table('records',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('owner_id', sa.String(length=26), nullable=True),
    sa.Column('pool', sa.String(length=63), nullable=True),
    sa.Column('pipeline', sa.String(length=63), nullable=True),
    sa.Column('stage', sa.String(length=63), nullable=True),
    sa.Column('stage_entered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('won_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lost_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=26), nullable=True),
    sa.Column('updated_by', sa.String(length=26), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=False),
    sa.Column('data', JSON_DOCUMENT, nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_records_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_records'))
    )
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_entity_created', ['tenant_id', 'entity', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_records_entity_owner', ['tenant_id', 'entity', 'owner_id'], unique=False)
        batch_op.create_index('ix_records_entity_updated', ['tenant_id', 'entity', 'updated_at', 'id'], unique=False)

    op.create_table('teams',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_teams_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_teams')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_teams_tenant_id'))
    )
    op.create_table('tenant_config_versions',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('document', JSON_DOCUMENT, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_config_versions_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'version', name=op.f('pk_tenant_config_versions'))
    )
    op.create_table('record_unique_values',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('entity', sa.String(length=63), nullable=False),
    sa.Column('field', sa.String(length=63), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'record_id'], ['records.tenant_id', 'records.id'], name=op.f('fk_record_unique_values_tenant_id_records')),
    sa.PrimaryKeyConstraint('tenant_id', 'entity', 'field', 'value_hash', name=op.f('pk_record_unique_values'))
    )
    with op.batch_alter_table('record_unique_values', schema=None) as batch_op:
        batch_op.create_index('ix_record_unique_values_record', ['tenant_id', 'record_id'], unique=False)

    op.create_table('users',
    sa.Column('tenant_id', sa.String(length=26), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=63), nullable=False),
    sa.Column('team_id', sa.String(length=26), nullable=True),
    sa.Column('manager_id', sa.String(length=26), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'manager_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_users_tenant_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'team_id'], ['teams.tenant_id', 'teams.id'], name=op.f('fk_users_tenant_id_teams')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_users_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_users')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_users_tenant_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_users_token_hash'))
    )


def downgrade() -> None:
    op.drop_table('users')
    with op.batch_alter_table('record_unique_values', schema=None) as batch_op:
        batch_op.drop_index('ix_record_unique_values_record')

    op.drop_table('record_unique_values')
    op.drop_table('tenant_config_versions')
    op.drop_table('teams')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_entity_updated')
        batch_op.drop_index('ix_records_entity_owner')
        batch_op.drop_index('ix_records_entity_created')

    op.drop_table('records')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_record')

    op.drop_table('audit_log')
    op.drop_table('tenants')
