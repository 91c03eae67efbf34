"""The condition language: parse and check, compile to Python (`rules.python`) and SQL (`rules.sql`).

Pure except `rules.sql`, which builds SQLAlchemy expressions over the records table (and runs none).
"""

from lowcode_platform.rules.scope import Attribute, Scope, entity_scope
from lowcode_platform.rules.syntax import Condition, ConditionError, check_condition, parse_condition

__all__ = ["Attribute", "Condition", "ConditionError", "Scope", "check_condition", "entity_scope", "parse_condition"]
