"""The compiled tenant config: built once per (tenant, version) from a checked document, then only read."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lowcode_platform import jsonutil
from lowcode_platform.errors import ConfigInvalidError, ErrorDetail
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


@dataclass(frozen=True)
class TenantConfig:
    """Everything the runtime needs from one version of a tenant's config."""

    version: int
    name: Label
    default_locale: str
    currency: str
    timezone: str
    locales: tuple[str, ...]
    roles: Mapping[str, RoleDef]
    entities: Mapping[str, EntityDef]
    document_text: str

    @property
    def document(self) -> dict[str, Any]:
        """A fresh copy of the merged config document."""
        return jsonutil.loads(self.document_text)


def iter_config_errors(document: Any) -> Iterator[ErrorDetail]:
    """Every error of a config document: the meta-schema's, then the semantic checks'."""
    shape_errors = list(iter_meta_errors(document))
    yield from shape_errors
    yield from iter_semantic_errors(document, [e.pointer for e in shape_errors])


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


def compile_config(document: Mapping[str, Any], version: int) -> TenantConfig:
    """Check `document` and compile it; raises `ConfigInvalidError` with every error found."""
    errors = list(iter_config_errors(document))
    if errors:
        raise ConfigInvalidError("the tenant config is invalid", errors)
    tenant = document.get("tenant", {})
    currency = tenant_currency(document)
    locales = tuple(document.get("locales", ("en", "zh")))
    return TenantConfig(
        version=version,
        name=Label.parse(tenant.get("name"), "tenant"),
        default_locale=tenant.get("default_locale", locales[0]),
        currency=currency,
        timezone=tenant.get("timezone", "Asia/Shanghai"),
        locales=locales,
        roles=MappingProxyType({k: _compile_role(k, v) for k, v in document.get("roles", {}).items()}),
        entities=MappingProxyType(
            {k: compile_entity(k, v, currency) for k, v in document.get("entities", {}).items()}
        ),
        document_text=jsonutil.dumps(document),
    )


class ConfigCache:
    """Compiled configs by (tenant, version): a version never changes, so entries never go stale."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], TenantConfig] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tenant_id: str, version: int, load_document: Callable[[], Mapping[str, Any]]) -> TenantConfig:
        """The compiled config, compiling `load_document()` the first time."""
        key = (tenant_id, version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        compiled = compile_config(load_document(), version)
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled
