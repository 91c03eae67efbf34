"""Widgets: how each field type may be entered, and the react-jsonschema-form widget each one maps to."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The widgets a field type accepts; the first is its default.
WIDGETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "text": ("text", "textarea"),
    "long_text": ("textarea", "text"),
    "integer": ("number",),
    "decimal": ("number",),
    "money": ("money",),
    "boolean": ("checkbox", "radio", "select"),
    "date": ("date",),
    "datetime": ("datetime",),
    "enum": ("select", "radio"),
    "multi_enum": ("checkboxes", "select"),
    "email": ("email", "text"),
    "phone": ("phone", "text"),
    "url": ("url", "text"),
    "user": ("user",),
    "reference": ("reference",),
    "region": ("region",),
})

# react-jsonschema-form's own widget for each platform widget. Money and region are objects: their parts
# get widgets of their own. User and reference pickers are text inputs to a client that has no picker
# registered; `ui:options.platformWidget` names the platform widget so that a client can register one
# (not `ui:options.widget`: react-jsonschema-form reads that as `ui:widget` and fails on a name it lacks).
RJSF_WIDGETS: Mapping[str, str | None] = MappingProxyType({
    "text": "text", "textarea": "textarea", "number": "updown", "select": "select", "radio": "radio",
    "checkbox": "checkbox", "checkboxes": "checkboxes", "date": "date", "datetime": "datetime",
    "email": "email", "url": "uri", "phone": "text", "user": "text", "reference": "text",
    "money": None, "region": None,
})


def default_widget(field_type: str) -> str:
    """The widget a field of `field_type` gets when its form names none."""
    return WIDGETS[field_type][0]


def fits(widget: str, field_type: str) -> bool:
    """Whether `widget` can enter a value of `field_type`."""
    return widget in WIDGETS[field_type]
