"""A configuration-driven, multi-tenant low-code CRM platform backend."""

__version__ = "0.1.0"
