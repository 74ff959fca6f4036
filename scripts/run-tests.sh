#!/usr/bin/env bash
# One command from a fresh machine to the full test suite against a real PostGIS.
set -euo pipefail
# The browser tests drive Debian's chromium; they fail (rather than skip) without it here.
export WITH_CHROMIUM=1 REQUIRE_BROWSER=1
# So do the GIS-client tests without Debian's gdal-bin (ogr2ogr, ogrinfo).
export WITH_GDAL_TOOLS=1 REQUIRE_GDAL_TOOLS=1
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
"$VENV/bin/ruff" check geo_service tests scripts
exec "$VENV/bin/python" -m pytest "$@"
