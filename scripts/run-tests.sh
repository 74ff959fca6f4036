#!/usr/bin/env bash
# One command from a fresh machine to the full test suite against a real PostGIS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$ROOT"
"$VENV/bin/ruff" check geo_service tests scripts
exec "$VENV/bin/python" -m pytest "$@"
