"""Who is acting: a user of one tenant, with the role the tenant's config gives them."""

from __future__ import annotations

from dataclasses import dataclass

from lowcode_platform.schema import RoleDef


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    user_id: str
    name: str
    role: RoleDef
    team_id: str | None = None
