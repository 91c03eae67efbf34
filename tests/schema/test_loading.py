"""Tests of loading tenant configs from files and folders: merging, `extends`, and located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowcode_platform.configuration import iter_config_errors
from lowcode_platform.errors import ErrorDetail, detail
from lowcode_platform.schema import FileError, load_config
from tests.configs import crm, label


def write(path: Path, value: Any) -> Path:
    """Write `value` to `path`: bytes and text as they are, anything else as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return path


def located(loaded: Any) -> list[tuple[str, str, str]]:
    return [(e.file, e.detail.pointer, e.detail.code) for e in loaded.errors]


def make_folder(root: Path) -> Path:
    """A config folder: top-level keys in tenant.json and roles.json, each entity in its own file."""
    document = crm()
    write(root / "tenant.json", {"$schema": "../tenant-config.schema.json", "tenant": document["tenant"],
                                 "locales": document["locales"]})
    write(root / "roles.json", {"roles": document["roles"]})
    for key, entity in document["entities"].items():
        write(root / "entities" / f"{key}.json", {"$schema": "../../tenant-config.schema.json", **entity})
    return root


def test_single_file_loads_as_the_document(tmp_path: Path) -> None:
    """A single JSON file is the whole document, without errors."""
    path = write(tmp_path / "crm.json", crm())
    loaded = load_config(path)
    assert loaded.errors == []
    assert loaded.document == crm()
    assert loaded.main_file == str(path)


def test_folder_mounts_top_level_files_and_subfolder_files(tmp_path: Path) -> None:
    """Files directly in a folder give top-level keys; entities/lead.json is mounted at /entities/lead."""
    loaded = load_config(make_folder(tmp_path / "crm"))
    assert loaded.errors == []
    assert loaded.document == crm()
    assert list(iter_config_errors(loaded.document)) == []


def test_schema_keys_are_dropped(tmp_path: Path) -> None:
    """The `$schema` key of every file (editor support) is not part of the document."""
    loaded = load_config(make_folder(tmp_path / "crm"))
    assert "$schema" not in loaded.document
    assert "$schema" not in loaded.document["entities"]["lead"]
    single = load_config(write(tmp_path / "one.json", {"$schema": "x", **crm()}))
    assert "$schema" not in single.document


def test_invalid_json_is_reported_at_the_file(tmp_path: Path) -> None:
    """A syntax error gives invalid_json at the file's root, formatted `<file>#: ...`."""
    path = write(tmp_path / "bad.json", '{"tenant": ')
    loaded = load_config(path)
    assert located(loaded) == [(str(path), "", "invalid_json")]
    assert loaded.errors[0].format().startswith(f"{path}#: ")
    assert loaded.document == {}


def test_invalid_json_in_a_folder_names_that_file(tmp_path: Path) -> None:
    """A syntax error in entities/lead.json is reported against that file, and the other files still load."""
    root = make_folder(tmp_path / "crm")
    write(root / "entities" / "lead.json", "{,}")
    loaded = load_config(root)
    assert located(loaded) == [(str(root / "entities" / "lead.json"), "", "invalid_json")]
    assert "customer" in loaded.document["entities"] and "lead" not in loaded.document["entities"]


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    """A path that does not exist gives unreadable_file instead of raising."""
    loaded = load_config(tmp_path / "nope")
    assert located(loaded) == [(str(tmp_path / "nope"), "", "unreadable_file")]


def test_non_object_file_is_a_type_error(tmp_path: Path) -> None:
    """A file holding a JSON array gives a type error at its root."""
    path = write(tmp_path / "list.json", "[1, 2]")
    assert located(load_config(path)) == [(str(path), "", "type")]


def test_repeated_key_in_one_file_points_at_the_key(tmp_path: Path) -> None:
    """A key repeated inside one object gives duplicate_key at that key's pointer in the file."""
    path = write(tmp_path / "dup.json", '{"tenant": {"name": {"en": "A"}, "currency": "CNY", "currency": "USD"},'
                                        ' "locales": ["en", {"a~b/c": 1, "a~b/c": 2}]}')
    loaded = load_config(path)
    assert located(loaded) == [
        (str(path), "/tenant/currency", "duplicate_key"),
        (str(path), "/locales/1/a~0b~1c", "duplicate_key"),
    ]


def test_repeated_key_in_an_entity_file_points_into_that_file(tmp_path: Path) -> None:
    """In a folder, a repeated key inside entities/lead.json is located inside that file."""
    root = make_folder(tmp_path / "crm")
    write(root / "entities" / "lead.json", '{"label": {"en": "Lead"}, "label": {"en": "Lead"}, "fields": {}}')
    assert located(load_config(root)) == [(str(root / "entities" / "lead.json"), "/label", "duplicate_key")]


def test_same_top_level_key_in_two_files_is_a_duplicate(tmp_path: Path) -> None:
    """Two top-level files defining `locales` give duplicate_key in the later one; the first value stays."""
    root = make_folder(tmp_path / "crm")
    write(root / "roles.json", {"roles": crm()["roles"], "locales": ["zh"]})
    loaded = load_config(root)
    assert [(e.file, e.detail.code) for e in loaded.errors] == [(str(root / "tenant.json"), "duplicate_key")]
    assert loaded.errors[0].detail.params["key"] == "locales"
    assert loaded.document["locales"] == ["zh"]


def test_same_top_level_key_in_two_files_points_at_the_key(tmp_path: Path) -> None:
    """The duplicate of a top-level key is located at that key in the later file, not at the file's root."""
    root = make_folder(tmp_path / "crm")
    write(root / "roles.json", {"roles": crm()["roles"], "locales": ["zh"]})
    assert located(load_config(root)) == [(str(root / "tenant.json"), "/locales", "duplicate_key")]


def test_locate_of_a_duplicated_key_names_the_file_whose_value_is_used(tmp_path: Path) -> None:
    """An error under a key defined twice is located in the file whose definition was kept."""
    root = make_folder(tmp_path / "crm")
    write(root / "roles.json", {"roles": crm()["roles"], "locales": ["xx"]})
    loaded = load_config(root)
    assert loaded.document["locales"] == ["xx"]
    assert loaded.locate(detail("/locales/0", "invalid_option")).file == str(root / "roles.json")


def test_entity_defined_in_tenant_json_and_in_its_own_file_is_a_duplicate(tmp_path: Path) -> None:
    """/entities/lead given both inside tenant.json and as entities/lead.json gives duplicate_key."""
    root = make_folder(tmp_path / "crm")
    write(root / "tenant.json", {"tenant": crm()["tenant"], "entities": {"lead": crm()["entities"]["customer"]}})
    loaded = load_config(root)
    assert "duplicate_key" in [e.detail.code for e in loaded.errors]


def test_locate_maps_entity_pointers_into_the_entity_file(tmp_path: Path) -> None:
    """A document pointer below /entities/lead is located in entities/lead.json, relative to that file."""
    root = make_folder(tmp_path / "crm")
    loaded = load_config(root)
    error = detail("/entities/lead/fields/x/type", "invalid_option", allowed="'text'")
    found = loaded.locate(error)
    assert (found.file, found.detail.pointer, found.detail.code) == (
        str(root / "entities" / "lead.json"), "/fields/x/type", "invalid_option")
    assert found.detail.params == {"allowed": "'text'"}
    whole = loaded.locate(detail("/entities/lead", "required"))
    assert (whole.file, whole.detail.pointer) == (str(root / "entities" / "lead.json"), "")


def test_locate_maps_top_level_pointers_into_tenant_json(tmp_path: Path) -> None:
    """A pointer below a key of tenant.json is located in tenant.json at the same pointer."""
    root = make_folder(tmp_path / "crm")
    loaded = load_config(root)
    found = loaded.locate(detail("/tenant/default_locale", "invalid_option", allowed="'en'"))
    assert (found.file, found.detail.pointer) == (str(root / "tenant.json"), "/tenant/default_locale")
    role = loaded.locate(detail("/roles/rep/permissions/ghost", "unknown_entity", entity="ghost"))
    assert (role.file, role.detail.pointer) == (str(root / "roles.json"), "/roles/rep/permissions/ghost")


def test_locate_in_a_single_file_keeps_the_pointer(tmp_path: Path) -> None:
    """In a single file, a document pointer is the file pointer."""
    path = write(tmp_path / "crm.json", crm())
    found = load_config(path).locate(detail("/entities/lead/fields/x/type", "invalid_option", allowed="'text'"))
    assert (found.file, found.detail.pointer) == (str(path), "/entities/lead/fields/x/type")


def test_file_error_format() -> None:
    """FileError.format gives exactly `file#pointer: message`, in the locale asked for."""
    error = FileError("crm/entities/lead.json", ErrorDetail("/fields/x/type", "unknown_role", {"role": "boss"}))
    assert error.format() == "crm/entities/lead.json#/fields/x/type: unknown role 'boss'"
    assert error.format("zh") == "crm/entities/lead.json#/fields/x/type: 未知的角色 'boss'"


def template_resolver(templates: Path) -> Any:
    def resolve(name: str) -> Path | None:
        path = templates / name
        return path if path.exists() else None

    return resolve


def test_extends_overlays_the_template(tmp_path: Path) -> None:
    """`extends` lays the document over its template: objects merge, null removes, other values replace."""
    templates = tmp_path / "templates"
    make_folder(templates / "crm")
    overlay = {
        "extends": "crm",
        "tenant": {"name": label("Acme"), "currency": "USD"},
        "locales": ["en"],
        "roles": {"viewer": None},
        "entities": {"customer": {"fields": {"level": None, "tier": {"type": "integer", "label": label("Tier")}}},
                     "lead": {"views": None}},
    }
    loaded = load_config(write(tmp_path / "acme.json", overlay), template_resolver(templates))
    assert loaded.errors == []
    document = loaded.document
    base = crm()
    assert "extends" not in document
    assert document["tenant"] == {**base["tenant"], "name": label("Acme"), "currency": "USD"}
    assert document["locales"] == ["en"]
    assert set(document["roles"]) == {"admin", "manager", "rep"}
    assert set(document["entities"]["customer"]["fields"]) == {"name", "tier"}
    assert document["entities"]["customer"]["label"] == base["entities"]["customer"]["label"]
    assert "views" not in document["entities"]["lead"]
    assert document["entities"]["lead"]["fields"] == base["entities"]["lead"]["fields"]


def test_extends_locates_overlay_pointers_in_the_overlay(tmp_path: Path) -> None:
    """After `extends`, a pointer into a key the overlay sets is located in the overlay file."""
    templates = tmp_path / "templates"
    make_folder(templates / "crm")
    path = write(tmp_path / "acme.json", {"extends": "crm", "tenant": {"currency": "USD"}})
    loaded = load_config(path, template_resolver(templates))
    assert loaded.locate(detail("/tenant/currency", "type", expected="a string")).file == str(path)
    lead = loaded.locate(detail("/entities/lead/fields/name/type", "type", expected="a string"))
    assert (lead.file, lead.detail.pointer) == (str(templates / "crm" / "entities" / "lead.json"), "/fields/name/type")


def test_extends_unknown_template(tmp_path: Path) -> None:
    """A template the resolver does not know gives bad_extends at /extends of the extending file."""
    path = write(tmp_path / "acme.json", {"extends": "nope", "locales": ["en"]})
    loaded = load_config(path, template_resolver(tmp_path))
    assert located(loaded) == [(str(path), "/extends", "bad_extends")]
    assert load_config(path).errors[0].detail.code == "bad_extends"  # no resolver at all


def test_extends_itself(tmp_path: Path) -> None:
    """A template extending itself gives bad_extends at its /extends instead of recursing."""
    templates = tmp_path / "templates"
    write(templates / "loop" / "tenant.json", {"extends": "loop", "locales": ["en"]})
    loaded = load_config(write(tmp_path / "acme.json", {"extends": "loop"}), template_resolver(templates))
    assert [(e.detail.pointer, e.detail.code) for e in loaded.errors] == [("/extends", "bad_extends")]
    assert loaded.errors[0].file == str(templates / "loop" / "tenant.json")


def test_extends_cycle_between_two_templates(tmp_path: Path) -> None:
    """Templates extending each other give one bad_extends instead of recursing."""
    templates = tmp_path / "templates"
    write(templates / "a.json", {"extends": "b"})
    write(templates / "b.json", {"extends": "a"})
    loaded = load_config(write(tmp_path / "acme.json", {"extends": "a"}), template_resolver(templates))
    assert [(e.detail.pointer, e.detail.code) for e in loaded.errors] == [("/extends", "bad_extends")]


# -- properties -------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
config_keys = st.sampled_from(["extends", "tenant", "locales", "roles", "entities", "forms", "fields", "type",
                               "label", "options", "default", "views", "columns", "sort", "$schema"])
config_like = st.recursive(
    json_scalars | st.sampled_from(["text", "enum", "lead", "en", "*"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(config_keys | st.text(max_size=6), children, max_size=5),
    max_leaves=40,
)


# When a property fails, hypothesis's pytest plugin imports libcst to suggest a patch, and libcst's import
# warns (mypy_extensions.TypedDict); under filterwarnings=error that would hide the failure behind an
# INTERNALERROR, so that one warning is ignored for the property tests.
tolerate_hypothesis_report = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loading")


@tolerate_hypothesis_report
@settings(max_examples=150, deadline=None, database=None)
@given(content=json_values.map(json.dumps) | config_like.map(json.dumps) | st.binary(max_size=40)
       | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_load_config_never_raises(scratch: Path, content: str | bytes) -> None:
    """Loading any file (JSON, other text, bytes), even one extending itself, reports errors and never raises."""
    path = write(scratch / "any.json", content)
    for resolver in (None, lambda name: path):
        loaded = load_config(path, resolver)
        assert isinstance(loaded.document, dict)
        for error in loaded.errors:
            assert isinstance(error, FileError)
            assert error.detail.pointer == "" or error.detail.pointer.startswith("/")


@tolerate_hypothesis_report
@settings(max_examples=200, deadline=None, database=None)
@given(document=json_values | config_like)
def test_iter_config_errors_never_raises_on_arbitrary_json(document: Any) -> None:
    """Any JSON value yields only ErrorDetails with RFC 6901 pointers, never an exception."""
    for error in iter_config_errors(document):
        assert isinstance(error, ErrorDetail)
        assert error.pointer == "" or error.pointer.startswith("/")


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of `value` and of every part inside it."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths_of(child, (*prefix, i))
    return found


CRM_PATHS = [p for p in paths_of(crm()) if p]


@tolerate_hypothesis_report
@settings(max_examples=250, deadline=None, database=None)
@given(path=st.sampled_from(CRM_PATHS), value=json_values)
def test_iter_config_errors_never_raises_on_a_config_with_one_part_replaced(path: tuple[Any, ...], value: Any) -> None:
    """Replacing any one part of a valid config by any JSON value gives errors, never an exception."""
    document = crm()
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    for error in iter_config_errors(document):
        assert isinstance(error, ErrorDetail)
        assert error.pointer == "" or error.pointer.startswith("/")
