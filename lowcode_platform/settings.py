"""Settings from environment variables (`LOWCODE_*`), with defaults for a local SQLite install."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_TEMPLATES = Path(__file__).resolve().parent.parent / "tenant_configs"


def _default_instance_dir() -> Path:
    return Path(os.environ.get("LOWCODE_INSTANCE_DIR", "instance")).resolve()


@dataclass(frozen=True)
class Settings:
    """What the app needs to run; `from_env()` reads them from `LOWCODE_*` variables."""

    database_url: str = ""
    instance_dir: Path = field(default_factory=_default_instance_dir)
    template_dirs: tuple[Path, ...] = (PROJECT_TEMPLATES,)
    max_body_bytes: int = 1024 * 1024
    echo_endpoint: bool = False  # POST /api/v1/meta/echo: the HTTP floor for benchmarks
    config_cache_size: int = 256
    token_cache_seconds: float = 5.0  # how long a token lookup is reused (revocation delay)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.instance_dir / 'lowcode.sqlite3'}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {}
        if env.get("LOWCODE_DATABASE_URL"):
            values["database_url"] = env["LOWCODE_DATABASE_URL"]
        extra = [Path(p) for p in env.get("LOWCODE_TEMPLATE_PATH", "").split(os.pathsep) if p]
        values["template_dirs"] = (*extra, PROJECT_TEMPLATES)
        if env.get("LOWCODE_TOKEN_CACHE_SECONDS"):
            values["token_cache_seconds"] = float(env["LOWCODE_TOKEN_CACHE_SECONDS"])
        if env.get("LOWCODE_ECHO_ENDPOINT") == "1":
            values["echo_endpoint"] = True
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def resolve_template(self, name: str) -> Path | None:
        """The folder or file of template `name` (a path works too), or None."""
        candidate = Path(name)
        if candidate.exists() and (candidate.is_file() or candidate.is_dir()) and ("/" in name or candidate.suffix):
            return candidate
        for folder in self.template_dirs:
            for path in (folder / name, folder / f"{name}.json"):
                if path.exists():
                    return path
        return None
