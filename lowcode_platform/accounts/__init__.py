"""Tenants, users, teams and bearer tokens; the active config of a tenant."""
