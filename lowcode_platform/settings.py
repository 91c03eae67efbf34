"""Settings from environment variables (`LOWCODE_*`), with defaults for a local SQLite install."""

from __future__ import annotations

import os
import secrets
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
    secret_key: str = ""  # signs web session cookies; empty: a key kept in `instance_dir/secret_key`
    secure_cookies: bool = False  # web session cookies only over HTTPS (set it behind TLS)

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
        if env.get("LOWCODE_SECRET_KEY"):
            values["secret_key"] = env["LOWCODE_SECRET_KEY"]
        if env.get("LOWCODE_SECURE_COOKIES") == "1":
            values["secure_cookies"] = True
        if env.get("LOWCODE_ECHO_ENDPOINT") == "1":
            values["echo_endpoint"] = True
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def session_secret(self) -> str:
        """The key that signs web session cookies: `secret_key`, else one made once and kept in the instance dir."""
        if self.secret_key:
            return self.secret_key
        path = self.instance_dir / "secret_key"
        if not path.exists():
            self.instance_dir.mkdir(parents=True, exist_ok=True)
            try:
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                    file.write(secrets.token_hex(32))
            except FileExistsError:  # another worker made it first
                pass
        return path.read_text().strip()

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
