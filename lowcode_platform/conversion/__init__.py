"""Lead conversion: which records a lead becomes and how its fields map onto them. Pure: definitions only."""

from lowcode_platform.conversion.definition import Conversion, TenantConversions, compile_conversions

__all__ = ["Conversion", "TenantConversions", "compile_conversions"]
