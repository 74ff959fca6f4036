"""geo_service: verified land-delivery and demolition areas for campaign offices, on PostGIS."""

__version__ = "0.1.0"
