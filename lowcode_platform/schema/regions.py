"""Mainland China provinces and prefecture-level cities (GB/T 2260 codes) for `region` fields."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from lowcode_platform import jsonutil


@dataclass(frozen=True)
class Region:
    code: str
    zh: str
    en: str
    cities: tuple[Region, ...] = ()

    def name(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en


@functools.cache
def load_regions() -> tuple[Region, ...]:
    """The provinces, each with its cities, sorted by code."""
    text = resources.files("lowcode_platform.schema").joinpath("data/regions.json").read_text("utf-8")
    return tuple(
        Region(p["code"], p["zh"], p["en"], tuple(Region(c["code"], c["zh"], c["en"]) for c in p["cities"]))
        for p in jsonutil.loads(text)["provinces"]
    )
