"""Forms: definitions per entity and purpose, their JSON output and the check of a submission through them.

Pure: no Flask, no database session, no Jinja2 (HTML rendering lives in `lowcode_platform.web`).
"""

from lowcode_platform.forms.definition import FormDef, FormField, TenantForms, compile_forms

__all__ = ["FormDef", "FormField", "TenantForms", "compile_forms"]
