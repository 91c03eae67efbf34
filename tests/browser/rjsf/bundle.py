"""react-jsonschema-form bundled once for the browser tests: `npm ci` and esbuild, cached by content.

The bundle is built in `.build/<key>/bundle.js`, where the key hashes package.json, package-lock.json and
entry.js, so that a changed pin or harness rebuilds and an unchanged one is reused across runs. The npm
install happens in a scratch directory that is removed afterwards: only the bundle is kept. A failed
build raises `BundleError` with npm's output; the tests fail on it, never skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("package.json", "package-lock.json", "entry.js")
BUILD_ROOT = HERE / ".build"
NPM_TIMEOUT = 180  # seconds; a cold `npm ci` downloads about 10 MB and takes seconds


class BundleError(Exception):
    """npm or esbuild failed; the message holds the command and its output."""


def bundle_key() -> str:
    """A hash of everything the bundle is built from."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`, so that concurrent test runs build the bundle once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_lock_in_sync() -> None:
    """Raise `BundleError` when package.json asks for other packages than package-lock.json pins.

    `npm ci` should refuse such a pair, but npm 11 may instead fetch the registry in a loop until the
    timeout; this check fails at once and says how to fix it.
    """
    package = json.loads((HERE / "package.json").read_text(encoding="utf-8"))
    locked = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"][""]
    for kind in ("dependencies", "devDependencies"):
        if package.get(kind, {}) != locked.get(kind, {}):
            raise BundleError(f"tests/browser/rjsf: the {kind} of package.json and package-lock.json differ; "
                              "run `npm install --package-lock-only` there and commit both files")


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _run(command: list[str], cwd: Path) -> None:
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    shown = f"`{' '.join(command)}` in {cwd}"
    try:
        done = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:
        raise BundleError(f"{shown} did not finish in {NPM_TIMEOUT} s\n--- stdout ---\n{_text(error.stdout)}\n"
                          f"--- stderr ---\n{_text(error.stderr)}") from error
    except OSError as error:
        raise BundleError(f"{shown} could not run: {error}") from error
    if done.returncode != 0:
        raise BundleError(f"{shown} exited with {done.returncode}\n"
                          f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}")


def build_bundle(build_root: Path = BUILD_ROOT) -> Path:
    """The path of the bundle, built first when no bundle of the current sources exists."""
    key = bundle_key()
    target = build_root / key / "bundle.js"
    if target.is_file():
        return target
    check_lock_in_sync()
    with _locked(build_root / ".lock"):
        if target.is_file():  # another run built it while this one waited
            return target
        work = Path(tempfile.mkdtemp(prefix=f"{key}-work-", dir=build_root))
        try:
            for name in SOURCES:
                shutil.copyfile(HERE / name, work / name)
            # --ignore-scripts: esbuild's postinstall only swaps its JS launcher for the native binary
            _run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], work)
            _run(["npm", "run", "--silent", "build"], work)
            target.parent.mkdir(exist_ok=True)
            os.replace(work / "bundle.js", target)  # same file system: the bundle appears whole or not at all
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for stale in build_root.iterdir():  # bundles of sources that have since changed
            if stale.is_dir() and stale.name != key:
                shutil.rmtree(stale, ignore_errors=True)
    return target
