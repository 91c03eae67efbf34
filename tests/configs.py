"""Small tenant configs the tests build on (plain data, no server)."""

from __future__ import annotations

import copy
from typing import Any

LABEL = {"en": "Label", "zh": "标签"}


def label(en: str, zh: str | None = None) -> dict[str, str]:
    return {"en": en, "zh": zh or en}


CRM: dict[str, Any] = {
    "tenant": {"name": label("Test CRM", "测试"), "default_locale": "en", "currency": "CNY"},
    "locales": ["en", "zh"],
    "roles": {
        "admin": {"label": label("Admin", "管理员"), "admin": True},
        "manager": {
            "label": label("Manager", "经理"), "pii": "all",
            "permissions": {"*": {"create": True, "read": True, "update": True, "delete": True, "scope": "team"}},
        },
        "rep": {
            "label": label("Rep", "销售"), "pii": "own",
            "permissions": {
                "lead": {"create": True, "read": True, "update": True, "delete": True, "scope": "team"},
                "customer": {"create": True, "read": True, "update": True, "scope": "own"},
            },
        },
        "viewer": {"label": label("Viewer"), "permissions": {"lead": {"read": True, "scope": "all"}}},
    },
    "entities": {
        "customer": {
            "label": label("Customer", "客户"),
            "title_field": "name",
            "fields": {
                "name": {"type": "text", "label": label("Name", "名称"), "required": True, "unique": True},
                "level": {"type": "enum", "label": label("Level", "级别"), "default": "c",
                          "options": [{"value": "a", "label": label("A")}, {"value": "b", "label": label("B")},
                                      {"value": "c", "label": label("C")}]},
            },
        },
        "lead": {
            "label": label("Lead", "线索"),
            "title_field": "name",
            "fields": {
                "name": {"type": "text", "label": label("Name", "姓名"), "required": True, "max_length": 50},
                "notes": {"type": "long_text", "label": label("Notes")},
                "employees": {"type": "integer", "label": label("Employees"), "min": 0},
                "score": {"type": "decimal", "label": label("Score"), "min": 0, "max": 100},
                "budget": {"type": "money", "label": label("Budget"), "currencies": ["CNY", "USD"], "min": 0},
                "vip": {"type": "boolean", "label": label("VIP")},
                "due": {"type": "date", "label": label("Due")},
                "met_at": {"type": "datetime", "label": label("Met at")},
                "status": {"type": "enum", "label": label("Status", "状态"), "default": "new", "indexed": True,
                           "options": [{"value": "new", "label": label("New", "新建")},
                                       {"value": "won", "label": label("Won", "赢单")}]},
                "tags": {"type": "multi_enum", "label": label("Tags"),
                         "options": [{"value": "hot", "label": label("Hot")}, {"value": "cold", "label": label("Cold")}]},
                "email": {"type": "email", "label": label("Email"), "pii": True},
                "phone": {"type": "phone", "label": label("Phone", "电话"), "pii": True, "unique": True},
                "site": {"type": "url", "label": label("Website")},
                "assignee": {"type": "user", "label": label("Assignee")},
                "customer": {"type": "reference", "label": label("Customer"), "entity": "customer"},
                "region": {"type": "region", "label": label("Region", "地区")},
            },
            "views": {"all": {"label": label("All"), "columns": ["name", "status", "created_at"], "sort": "-created_at"}},
        },
    },
}


def crm(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the CRM test config, with top-level keys replaced by `overrides`."""
    document = copy.deepcopy(CRM)
    document.update(overrides)
    return document
