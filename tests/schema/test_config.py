"""Tests of the compiled tenant config: compiling, roles and permissions, the cache, immutability."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lowcode_platform.configuration import ConfigCache, TenantConfig, compile_config
from lowcode_platform.errors import ConfigInvalidError
from lowcode_platform.schema import Permission
from lowcode_platform.schema.labels import Label
from tests.configs import crm


def test_compile_config_raises_with_every_error() -> None:
    """An invalid document raises ConfigInvalidError (422) carrying all of its errors, meta and semantic."""
    document = crm(colour="blue")
    document["entities"]["lead"]["title_field"] = "nope"
    document["entities"]["lead"]["fields"]["name"]["required"] = "yes"
    with pytest.raises(ConfigInvalidError) as caught:
        compile_config(document, 3)
    assert caught.value.status == 422
    assert caught.value.code == "invalid_config"
    assert {(d.pointer, d.code) for d in caught.value.details} == {
        ("/colour", "unknown_key"),
        ("/entities/lead/fields/name/required", "type"),
        ("/entities/lead/title_field", "unknown_field"),
    }


def test_compile_config_builds_the_tenant() -> None:
    """A valid document compiles into its version, tenant settings, roles and entities."""
    config = compile_config(crm(), 7)
    assert (config.version, config.default_locale, config.currency, config.locales) == (7, "en", "CNY", ("en", "zh"))
    assert config.name == Label("Test CRM", "测试")
    assert config.timezone == "Asia/Shanghai"
    assert set(config.roles) == {"admin", "manager", "rep", "viewer"}
    assert list(config.entities) == ["customer", "lead"]
    assert config.document == crm()


def test_money_fields_default_to_the_tenant_currency() -> None:
    """A money field without `currencies` accepts only the tenant's currency."""
    document = crm()
    document["tenant"]["currency"] = "USD"
    del document["entities"]["lead"]["fields"]["budget"]["currencies"]
    lead = compile_config(document, 1).entities["lead"]
    assert lead.fields["budget"].currencies == ("USD",)
    assert [e.code for e in lead.iter_record_errors({"name": "A", "budget": {"amount": 1, "currency": "CNY"}})] == [
        "invalid_option"]


def test_role_permission_for_a_named_entity() -> None:
    """A role's permission on an entity it names is the one it gives."""
    rep = compile_config(crm(), 1).roles["rep"]
    assert rep.permission("lead") == Permission(True, True, True, True, "team")
    assert rep.permission("customer") == Permission(True, True, True, False, "own")


def test_role_permission_falls_back_to_star() -> None:
    """An entity a role does not name gets the role's `*` permission."""
    manager = compile_config(crm(), 1).roles["manager"]
    assert manager.permission("lead") == Permission(True, True, True, True, "team")
    assert manager.permission("anything") == Permission(True, True, True, True, "team")


def test_role_permission_without_star_is_nothing() -> None:
    """Without `*`, an entity the role does not name allows nothing."""
    viewer = compile_config(crm(), 1).roles["viewer"]
    assert viewer.permission("lead") == Permission(read=True, scope="all")
    nothing = viewer.permission("customer")
    assert [nothing.allows(a) for a in ("create", "read", "update", "delete")] == [False] * 4


def test_named_entity_wins_over_star() -> None:
    """A permission given for the entity itself applies even when `*` would allow more."""
    document = crm()
    document["roles"]["manager"]["permissions"]["lead"] = {"read": True}
    manager = compile_config(document, 1).roles["manager"]
    assert manager.permission("lead") == Permission(read=True, scope="own")
    assert manager.permission("customer").delete is True


def test_admin_gets_everything() -> None:
    """An admin role may do everything with every entity, on all records, and sees pii."""
    admin = compile_config(crm(), 1).roles["admin"]
    for entity in ("lead", "customer", "not_an_entity"):
        permission = admin.permission(entity)
        assert all(permission.allows(a) for a in ("create", "read", "update", "delete"))
        assert permission.scope == "all"
    assert admin.pii == "all"
    assert compile_config(crm(), 1).roles["viewer"].pii == "none"


class CountingLoader:
    """A document loader that counts how often it is called."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return self.document


def test_cache_compiles_once_per_tenant_and_version() -> None:
    """The same (tenant, version) is compiled once; another version or tenant is compiled again."""
    cache = ConfigCache()
    loader = CountingLoader(crm())
    first = cache.get("t1", 1, loader)
    assert cache.get("t1", 1, loader) is first
    assert loader.calls == 1
    assert cache.get("t1", 2, loader).version == 2
    assert cache.get("t2", 1, loader) is not first
    assert loader.calls == 3


def test_cache_evicts_the_least_recently_used_beyond_its_size() -> None:
    """Beyond its size the cache forgets the entry used longest ago, and compiles it again when asked."""
    cache = ConfigCache(size=2)
    loader = CountingLoader(crm())
    a = cache.get("a", 1, loader)
    cache.get("b", 1, loader)
    assert cache.get("a", 1, loader) is a  # a is now the most recently used
    cache.get("c", 1, loader)  # evicts b
    assert loader.calls == 3
    assert cache.get("a", 1, loader) is a
    assert loader.calls == 3
    cache.get("b", 1, loader)
    assert loader.calls == 4


def test_cache_does_not_keep_invalid_configs() -> None:
    """An invalid document raises from the cache every time it is asked for."""
    cache = ConfigCache()
    loader = CountingLoader(crm(colour="blue"))
    for _ in range(2):
        with pytest.raises(ConfigInvalidError):
            cache.get("t", 1, loader)
    assert loader.calls == 2


@pytest.fixture
def config() -> TenantConfig:
    return compile_config(crm(), 1)


def test_tenant_config_attributes_cannot_be_assigned(config: TenantConfig) -> None:
    """TenantConfig, its roles and entities are frozen dataclasses."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.entities["lead"].title_field = "email"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.roles["rep"].admin = True  # type: ignore[misc]


def test_tenant_config_mappings_cannot_be_assigned_to(config: TenantConfig) -> None:
    """The entities, roles, fields, views and permissions mappings are read-only."""
    lead = config.entities["lead"]
    with pytest.raises(TypeError):
        config.entities["lead"] = lead  # type: ignore[index]
    with pytest.raises(TypeError):
        config.roles["rep"] = config.roles["admin"]  # type: ignore[index]
    with pytest.raises(TypeError):
        lead.fields["name"] = lead.fields["email"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del lead.views["all"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        config.roles["rep"].permissions["lead"] = Permission()  # type: ignore[index]


def test_tenant_config_document_is_a_fresh_copy(config: TenantConfig) -> None:
    """Changing the returned document does not change the compiled config."""
    config.document["tenant"]["currency"] = "USD"
    assert config.document["tenant"]["currency"] == "CNY"


def test_defaults_handed_out_are_not_shared_with_the_config() -> None:
    """Changing a record filled by with_defaults does not change the cached config's default."""
    document = crm()
    document["entities"]["lead"]["fields"]["tags"]["default"] = ["hot"]
    lead = compile_config(document, 1).entities["lead"]
    lead.with_defaults({"name": "A"})["tags"].append("cold")
    assert lead.with_defaults({"name": "B"})["tags"] == ["hot"]
