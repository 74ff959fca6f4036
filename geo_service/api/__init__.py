"""The HTTP API: routers built from small factories over the same use cases as the CLI.

The app is made by `geo_service.api.app.create_app`; this package itself loads nothing, so
importing one of its modules (a page importing `api.auth`) does not build the whole app.
"""
