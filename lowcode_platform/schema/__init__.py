"""The tenant config: meta-schema, loading, checking and compiling; entities, fields and record schemas.

Pure: reads files and returns data; imports neither Flask nor a database session.
"""

from lowcode_platform.schema.config import Permission, RoleDef
from lowcode_platform.schema.entities import SYSTEM_FIELDS, EntityDef
from lowcode_platform.schema.fields import FIELD_TYPES, FieldDef
from lowcode_platform.schema.loading import FileError, LoadedConfig, load_config
from lowcode_platform.schema.meta import meta_schema, meta_schema_text

__all__ = [
    "FIELD_TYPES", "SYSTEM_FIELDS", "EntityDef", "FieldDef", "FileError", "LoadedConfig", "Permission", "RoleDef",
    "load_config", "meta_schema", "meta_schema_text",
]
