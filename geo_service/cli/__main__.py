"""`python -m geo_service.cli`: the same as the geo-service command."""

from . import app

app(prog_name="geo-service")
