"""Storage: tables, engines and sessions, tenant scoping, audit log; Alembic migrations.

Repositories and helpers here never commit: the service that opened the transaction does.
"""
