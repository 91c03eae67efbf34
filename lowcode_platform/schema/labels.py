"""Texts in English and Chinese, as config documents give them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Label:
    en: str
    zh: str | None = None

    def get(self, locale: str) -> str:
        """The text in `locale`, falling back to English."""
        return (self.zh or self.en) if locale == "zh" else self.en

    def to_json(self) -> dict[str, str]:
        return {"en": self.en, **({"zh": self.zh} if self.zh else {})}

    @classmethod
    def parse(cls, value: Mapping[str, Any] | None, fallback: str = "") -> Label:
        if not value:
            return cls(fallback)
        return cls(str(value.get("en", fallback)), value.get("zh"))
