"""Conversion configs are checked with pointers: mapped fields exist and fit, templates, dedupe, links, the lead."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from lowcode_platform.configuration import compile_config, iter_config_errors
from tests.configs import crm, label

Mutation = Callable[[dict[str, Any]], None]


def conversion_config() -> dict[str, Any]:
    """The CRM config with contacts and deals, and a conversion of a lead into a customer, a contact and a deal."""
    document = crm()
    entities = document["entities"]
    entities["contact"] = {"label": label("Contact"), "fields": {
        "name": {"type": "text", "label": label("Name"), "required": True},
        "email": {"type": "email", "label": label("Email")},
        "customer": {"type": "reference", "entity": "customer", "label": label("Customer")},
    }}
    entities["deal"] = {"label": label("Deal"), "fields": {
        "title": {"type": "text", "label": label("Title"), "required": True},
        "amount": {"type": "money", "label": label("Amount")},
        "customer": {"type": "reference", "entity": "customer", "label": label("Customer")},
        "contact": {"type": "reference", "entity": "contact", "label": label("Contact")},
    }}
    document["conversions"] = {"qualify": {
        "from": "lead", "label": label("Convert"), "when": {"$ex": {"email": 1}},
        "targets": {
            "customer": {"entity": "customer", "map": {"name": {"$m": "name"}, "level": "a"},
                         "dedupe": {"keys": ["name"], "normalize": ["trim", "case", "width"], "on_match": "link"}},
            "contact": {"entity": "contact", "map": {"name": {"$template": "Contact at {name}"}, "email": {"$m": "email"}},
                        "link": {"customer": "customer"}},
            "deal": {"entity": "deal", "optional": True,
                     "map": {"title": {"$template": "{name} deal"}, "amount": {"$m": "budget"}},
                     "link": {"customer": "customer", "contact": "contact"}},
        },
        "lead": {"set": {"status": "won"}, "readonly": True},
    }}
    return document


def at(path: str, value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = document["conversions"]["qualify"]
        for key in parents:
            target = target[key]
        target[last] = value
    return mutate


C = "/conversions/qualify"
T = f"{C}/targets"


def test_the_conversion_config_compiles() -> None:
    """A valid conversion compiles with its targets in order, links, dedupe and the lead's changes."""
    config = compile_config(conversion_config(), 1)
    conversion = config.conversions.get("qualify")
    assert conversion is not None
    assert [t.key for t in conversion.targets] == ["customer", "contact", "deal"]
    deal = conversion.targets[2]
    assert deal.optional and dict(deal.links) == {"customer": "customer", "contact": "contact"}
    assert [m.copy for m in deal.map if m.target == "amount"] == ["budget"]
    assert conversion.targets[0].dedupe is not None and conversion.targets[0].dedupe.on_match == "link"
    assert [name for name, _ in conversion.lead_set] == ["status"]


@pytest.mark.parametrize(("mutation", "pointer", "code"), [
    pytest.param(at("from", "ghost"), f"{C}/from", "unknown_entity", id="unknown-source"),
    pytest.param(at("when", {"ghost": 1}), f"{C}/when/ghost", "unknown_field", id="when-unknown-field"),
    pytest.param(at("targets/customer/entity", "ghost"), f"{T}/customer/entity", "unknown_entity", id="unknown-target"),
    pytest.param(at("targets/customer/map/ghost", "x"), f"{T}/customer/map/ghost", "unknown_field",
                 id="unknown-target-field"),
    pytest.param(at("targets/customer/map/name", {"$m": "ghost"}), f"{T}/customer/map/name/$m", "unknown_field",
                 id="unknown-source-field"),
    pytest.param(at("targets/customer/map/name", {"$m": "employees"}), f"{T}/customer/map/name/$m",
                 "condition_mismatch", id="type-mismatch"),
    pytest.param(at("targets/customer/map/level", "Z"), f"{T}/customer/map/level", "invalid_value",
                 id="constant-not-an-option"),
    pytest.param(at("targets/deal/map/amount", {"$m": "region"}), f"{T}/deal/map/amount/$m", "mapping_mismatch",
                 id="object-mismatch"),
    pytest.param(at("targets/contact/map/name", {"$template": "{ghost}"}), f"{T}/contact/map/name/$template",
                 "unknown_field", id="template-unknown-field"),
    pytest.param(at("targets/deal/map/amount", {"$template": "{name}"}), f"{T}/deal/map/amount/$template",
                 "template_needs_text", id="template-into-money"),
    pytest.param(at("targets/customer/dedupe/keys", ["ghost"]), f"{T}/customer/dedupe/keys/0", "unknown_field",
                 id="dedupe-unknown-key"),
    pytest.param(at("targets/deal/link/contact", "ghost"), f"{T}/deal/link/contact", "unknown_target",
                 id="link-unknown-target"),
    pytest.param(at("targets/deal/link/contact", "customer"), f"{T}/deal/link/contact", "reference_field_needed",
                 id="link-to-the-wrong-entity"),
    pytest.param(at("lead/set/ghost", 1), f"{C}/lead/set/ghost", "unknown_field", id="lead-set-unknown-field"),
    pytest.param(at("lead/stage", "won"), f"{C}/lead/stage", "unknown_stage", id="lead-stage-without-pipeline"),
    pytest.param(at("targets/customer/dedupe/on_match", "merge"), f"{T}/customer/dedupe/on_match", "invalid_option",
                 id="meta-on-match"),
])
def test_conversion_errors(mutation: Mutation, pointer: str, code: str) -> None:
    """Each mistake in a conversion is reported at its pointer with its code."""
    document = copy.deepcopy(conversion_config())
    mutation(document)
    assert [(e.pointer, e.code) for e in iter_config_errors(document)] == [(pointer, code)]
