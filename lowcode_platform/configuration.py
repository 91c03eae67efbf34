"""The compiled tenant config: entities and roles (`schema`) with their rules (`rules`), built once per version.

A config is checked whole: the meta-schema, then the semantic checks, then (once the structure is
sound, so conditions can be read against the entities) every condition and rule.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lowcode_platform import jsonutil
from lowcode_platform.approvals import TenantApprovals, compile_approvals
from lowcode_platform.conversion import TenantConversions, compile_conversions
from lowcode_platform.errors import ConfigInvalidError, ErrorDetail
from lowcode_platform.forms import TenantForms, compile_forms
from lowcode_platform.pipelines import TenantPipelines, compile_pipelines
from lowcode_platform.pipelines.definition import check_stage_moves
from lowcode_platform.pools import TenantPools, compile_pools
from lowcode_platform.rules.config import TenantRules, compile_rules
from lowcode_platform.schema import EntityDef, RoleDef
from lowcode_platform.schema.checks import tenant_currency
from lowcode_platform.schema.config import compile_entities, compile_roles, iter_schema_config_errors
from lowcode_platform.schema.labels import Label

DEFAULT_TIMEZONE = "Asia/Shanghai"


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
    rules: TenantRules
    forms: TenantForms
    pipelines: TenantPipelines
    conversions: TenantConversions
    pools: TenantPools
    approvals: TenantApprovals
    document_text: str

    @property
    def document(self) -> dict[str, Any]:
        """A fresh copy of the merged config document."""
        return jsonutil.loads(self.document_text)


def _timezone(document: Mapping[str, Any]) -> str:
    return document.get("tenant", {}).get("timezone", DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class _Checked:
    errors: list[ErrorDetail]
    entities: Mapping[str, EntityDef] | None = None
    rules: TenantRules | None = None
    forms: TenantForms | None = None
    pipelines: TenantPipelines | None = None
    conversions: TenantConversions | None = None
    pools: TenantPools | None = None
    approvals: TenantApprovals | None = None


def _check(document: Any) -> _Checked:
    errors = list(iter_schema_config_errors(document))
    if errors:
        return _Checked(errors)
    entities = compile_entities(document)
    rules, errors = compile_rules(document, entities, _timezone(document))
    computed = {key: rules.of(key).computed_keys for key in entities}
    forms, form_errors = compile_forms(document, entities, rules.scopes, computed)
    links = {key: rules.of(key).activity_for for key in entities}
    pipelines, pipeline_errors = compile_pipelines(document, entities, rules.scopes, links)
    pipeline_errors += check_stage_moves(rules.automations, pipelines)
    stages = {key: frozenset(s.key for p in pipelines.of(key) for s in p.stages) | ({"lost"} if pipelines.of(key) else set())
              for key in entities}
    conversions, conversion_errors = compile_conversions(document, entities, rules.scopes, stages)
    pools, pool_errors = compile_pools(document, entities, rules.scopes)
    sources = {key: c.source for key, c in conversions.conversions.items()}
    approvals, approval_errors = compile_approvals(document, entities, rules.scopes, stages, sources)
    return _Checked(errors + form_errors + pipeline_errors + conversion_errors + pool_errors + approval_errors,
                    entities, rules, forms, pipelines, conversions, pools, approvals)


def iter_config_errors(document: Any) -> Iterator[ErrorDetail]:
    """Every error of a config document, each with a pointer into it."""
    yield from _check(document).errors


def compile_config(document: Mapping[str, Any], version: int) -> TenantConfig:
    """Check `document` and compile it; raises `ConfigInvalidError` with every error found."""
    checked = _check(document)
    if (checked.errors or checked.rules is None or checked.entities is None or checked.forms is None
            or checked.pipelines is None or checked.conversions is None or checked.pools is None
            or checked.approvals is None):
        raise ConfigInvalidError("the tenant config is invalid", checked.errors)
    tenant = document.get("tenant", {})
    locales = tuple(document.get("locales", ("en", "zh")))
    return TenantConfig(
        version=version,
        name=Label.parse(tenant.get("name"), "tenant"),
        default_locale=tenant.get("default_locale", locales[0]),
        currency=tenant_currency(document),
        timezone=_timezone(document),
        locales=locales,
        roles=compile_roles(document),
        entities=checked.entities,
        rules=checked.rules,
        forms=checked.forms,
        pipelines=checked.pipelines,
        conversions=checked.conversions,
        pools=checked.pools,
        approvals=checked.approvals,
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
