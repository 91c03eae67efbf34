"""Load a tenant config from a JSON file or a folder of JSON files, and remember where each part came from.

In a folder, a file directly inside it (`tenant.json`, `roles.json`) holds top-level keys; a file in a
subfolder is mounted at its path: `entities/lead.json` becomes `/entities/lead`. `extends` names a
template whose document lies beneath this one (objects merge key by key, `null` removes a key, anything
else replaces). Errors are reported per file with pointers into that file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lowcode_platform import jsonutil
from lowcode_platform.errors import ErrorDetail, detail, escape_pointer_token
from lowcode_platform.messages import NOWHERE, also_in

TemplateResolver = Callable[[str], Path | None]


@dataclass(frozen=True)
class Source:
    """The part of the merged document at `mount` came from `file`, at `file_pointer` inside it."""

    mount: str
    file: str
    file_pointer: str = ""


@dataclass(frozen=True)
class FileError:
    file: str
    detail: ErrorDetail

    def format(self, locale: str = "en") -> str:
        return f"{self.file}#{self.detail.pointer}: {self.detail.message_in(locale)}"


@dataclass
class LoadedConfig:
    """A merged config document, the files it came from, and the errors met while reading them."""

    document: dict[str, Any]
    sources: list[Source] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    main_file: str = ""

    def locate(self, error: ErrorDetail) -> FileError:
        """Turn an error with a pointer into the merged document into one pointing into its file."""
        best: Source | None = None
        for source in self.sources:
            if _is_prefix(source.mount, error.pointer) and (best is None or len(source.mount) >= len(best.mount)):
                best = source
        if best is None:
            return FileError(self.main_file, error)
        rest = error.pointer[len(best.mount):]
        return FileError(best.file, ErrorDetail(best.file_pointer + rest, error.code, error.params))


def _is_prefix(mount: str, pointer: str) -> bool:
    return pointer == mount or pointer.startswith(mount + "/") or mount == ""


class _KeyedObject(dict):
    """A parsed JSON object that remembers the keys its text repeated."""

    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _KeyedObject:
    obj = _KeyedObject()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _plain(value: Any, pointer: str, found: list[ErrorDetail]) -> Any:
    """Plain dicts and lists, reporting every repeated key on the way."""
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            found.append(detail(f"{pointer}/{escape_pointer_token(key)}", "duplicate_key", key=key, where=NOWHERE))
        return {k: _plain(v, f"{pointer}/{escape_pointer_token(k)}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{pointer}/{i}", found) for i, v in enumerate(value)]
    return value


def parse_json_text(text: str) -> tuple[Any, list[ErrorDetail]]:
    """Parse one JSON text; the errors are syntax errors and repeated keys, with pointers into it."""
    try:
        raw = jsonutil.loads(text, object_pairs_hook=_object_pairs)
    except jsonutil.JSONDecodeError as exc:
        return None, [detail("", "invalid_json", error=f"{exc.msg} at line {exc.lineno} column {exc.colno}")]
    found: list[ErrorDetail] = []
    return _plain(raw, "", found), found


def _read_json(path: Path, shown: str, loaded: LoadedConfig) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        loaded.errors.append(FileError(shown, detail("", "unreadable_file", error=str(exc))))
        return None
    value, errors = parse_json_text(text)
    loaded.errors.extend(FileError(shown, e) for e in errors)
    if isinstance(value, dict):
        value.pop("$schema", None)
    return value


def _folder_files(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.glob("*.json") if p.is_file())
    yield from sorted(p for p in folder.glob("*/**/*.json") if p.is_file())


def _mount(document: dict[str, Any], tokens: list[str], value: Any, shown: str, loaded: LoadedConfig,
           claimed: dict[str, str], file_pointer: str = "") -> None:
    """Place `value` at `tokens` unless something is there already (from this file or another)."""
    pointer = "".join("/" + escape_pointer_token(t) for t in tokens)
    target = document
    for token in tokens[:-1]:
        target = target.setdefault(token, {})
        if not isinstance(target, dict):
            return
    if tokens[-1] in target:
        owner = next((f for p, f in claimed.items() if pointer == p or pointer.startswith(p + "/")), "")
        where = also_in(owner) if owner and owner != shown else NOWHERE
        loaded.errors.append(FileError(shown, detail(file_pointer, "duplicate_key", key=tokens[-1], where=where)))
        return
    claimed[pointer] = shown
    target[tokens[-1]] = value
    loaded.sources.append(Source(pointer, shown, file_pointer))


def _load_tree(path: Path, shown: str, loaded: LoadedConfig) -> dict[str, Any]:
    if path.is_file():
        value = _read_json(path, shown, loaded)
        if value is not None and not isinstance(value, dict):
            loaded.errors.append(FileError(shown, detail("", "type", expected="an object")))
            value = None
        loaded.sources.extend(Source(f"/{escape_pointer_token(k)}", shown, f"/{escape_pointer_token(k)}") for k in value or {})
        loaded.main_file = loaded.main_file or shown
        return value or {}
    document: dict[str, Any] = {}
    claimed: dict[str, str] = {}
    for file in _folder_files(path):
        relative = file.relative_to(path)
        file_shown = str(Path(shown) / relative)
        value = _read_json(file, file_shown, loaded)
        if value is None:
            continue
        if len(relative.parts) == 1:
            if not isinstance(value, dict):
                loaded.errors.append(FileError(file_shown, detail("", "type", expected="an object")))
                continue
            loaded.main_file = loaded.main_file or file_shown
            for key, part in value.items():
                _mount(document, [key], part, file_shown, loaded, claimed, f"/{escape_pointer_token(key)}")
        else:
            tokens = [*relative.parts[:-1], relative.stem]
            _mount(document, tokens, value, file_shown, loaded, claimed)
    loaded.main_file = loaded.main_file or shown
    return document


def merge_documents(base: Any, overlay: Any) -> Any:
    """`overlay` laid over `base`: objects merge key by key, `null` removes a key, the rest replaces."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_documents(base.get(key), value)
    return merged


def load_config(path: str | Path, resolve_template: TemplateResolver | None = None) -> LoadedConfig:
    """Load a config file or folder, with its `extends` chain; never raises for bad content."""
    return _load(Path(path), str(path), resolve_template, ())


def _load(path: Path, shown: str, resolve_template: TemplateResolver | None, chain: tuple[str, ...]) -> LoadedConfig:
    loaded = LoadedConfig({})
    if not path.exists():
        loaded.errors.append(FileError(shown, detail("", "unreadable_file", error="no such file or folder")))
        loaded.main_file = shown
        return loaded
    document = _load_tree(path, shown, loaded)
    name = document.get("extends")
    if isinstance(name, str):
        base_path = resolve_template(name) if resolve_template else None
        if base_path is None or name in chain:
            reason = "it extends itself" if name in chain else "no such template"
            loaded.errors.append(loaded.locate(detail("/extends", "bad_extends", name=name, error=reason)))
        else:
            base = _load(base_path, str(base_path), resolve_template, (*chain, name))
            document = merge_documents(base.document, {k: v for k, v in document.items() if k != "extends"})
            loaded.sources[:0] = base.sources
            loaded.errors[:0] = base.errors
    loaded.document = document
    return loaded
