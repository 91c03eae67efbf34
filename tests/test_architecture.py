"""The dependency direction of the design holds (import-linter contracts) and the linter is clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def test_import_contracts_are_kept():
    """Edges import services, services storage, storage the pure core; the core imports no Flask or SQL."""
    command = shutil.which("lint-imports")
    assert command, "import-linter is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([command, "--no-cache"], cwd=Path(__file__).parent.parent, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_ruff_finds_nothing():
    """The code passes the linter's checks (pyflakes, bugbear, import order; see pyproject.toml)."""
    command = shutil.which("ruff")
    assert command, "ruff is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([command, "check", "--no-cache", "lowcode_platform", "tests", "benchmarks"],
                            cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
