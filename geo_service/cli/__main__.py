"""`python -m geo_service.cli`: the same as the geo-service command."""

from geo_service.cli import app

app(prog_name="geo-service")
