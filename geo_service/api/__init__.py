"""The HTTP API: routers built from small factories over the same use cases as the CLI."""

from geo_service.api.app import create_app

__all__ = ["create_app"]
