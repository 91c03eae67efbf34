"""Roles and entities compiled from a checked config document, and the checks of its structure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lowcode_platform.errors import ErrorDetail
from lowcode_platform.schema.checks import iter_semantic_errors, tenant_currency
from lowcode_platform.schema.entities import EntityDef, compile_entity
from lowcode_platform.schema.labels import Label
from lowcode_platform.schema.meta import iter_meta_errors

ACTIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class Permission:
    """What a role may do with one entity, and on whose records (`own`, `team` or `all`)."""

    create: bool = False
    read: bool = False
    update: bool = False
    delete: bool = False
    scope: str = "own"

    def allows(self, action: str) -> bool:
        return bool(getattr(self, action))


NO_PERMISSION = Permission()
FULL_PERMISSION = Permission(True, True, True, True, "all")


@dataclass(frozen=True)
class RoleDef:
    key: str
    label: Label
    admin: bool
    pii: str  # all | own | none: whose records' pii fields the role sees unmasked
    permissions: Mapping[str, Permission]

    def permission(self, entity: str) -> Permission:
        """The role's permission on `entity` (`*` applies to entities not named)."""
        if self.admin:
            return FULL_PERMISSION
        return self.permissions.get(entity) or self.permissions.get("*") or NO_PERMISSION


def _compile_role(key: str, spec: Mapping[str, Any]) -> RoleDef:
    admin = bool(spec.get("admin", False))
    return RoleDef(
        key=key,
        label=Label.parse(spec.get("label"), key),
        admin=admin,
        pii=spec.get("pii", "all" if admin else "none"),
        permissions=MappingProxyType(
            {entity: Permission(**{a: bool(p.get(a, False)) for a in ACTIONS}, scope=p.get("scope", "own"))
             for entity, p in spec.get("permissions", {}).items()}
        ),
    )


def compile_roles(document: Mapping[str, Any]) -> Mapping[str, RoleDef]:
    """The roles of a checked config document."""
    return MappingProxyType({k: _compile_role(k, v) for k, v in document.get("roles", {}).items()})


def compile_entities(document: Mapping[str, Any]) -> Mapping[str, EntityDef]:
    """The entities of a checked config document."""
    currency = tenant_currency(document)
    return MappingProxyType({k: compile_entity(k, v, currency) for k, v in document.get("entities", {}).items()})


def iter_schema_config_errors(document: Any) -> Iterator[ErrorDetail]:
    """Every error of a config document's structure: the meta-schema's, then the semantic checks'."""
    shape_errors = list(iter_meta_errors(document))
    yield from shape_errors
    yield from iter_semantic_errors(document, [e.pointer for e in shape_errors])
