"""Config documents as JSON text on PostgreSQL (JSONB reorders keys, and a config's order means something:
the order of entities, fields and forms).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tenant_config_versions ALTER COLUMN document TYPE json USING document::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tenant_config_versions ALTER COLUMN document TYPE jsonb USING document::jsonb")
