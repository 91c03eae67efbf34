"""The HTTP API: flask-smorest blueprints that translate requests to service calls, and problem+json errors."""

from lowcode_platform.api.setup import register_api

__all__ = ["register_api"]
