#!/usr/bin/env bash
# One command from a fresh machine to a running service with the Jin'an demo data.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
echo "==> loading demo data"
"$VENV/bin/geo-service" demo
"$VENV/bin/geo-service" tally --by township
cat <<MSG
==> geo_service is starting on http://$HOST:$PORT/
    sign in:          http://$HOST:$PORT/login  as a demo user (listed above), e.g.
                      周建明 (leader, 晋安区) or 林志伟 (land verifier); password jinan-demo-2017
    progress map:     http://$HOST:$PORT/maps/progress
    support map:      http://$HOST:$PORT/maps/support
    API docs:         http://$HOST:$PORT/docs
    tallies:          http://$HOST:$PORT/api/tallies?by=township
    parcels (GeoJSON): http://$HOST:$PORT/api/parcels?township=新店镇
MSG
exec "$VENV/bin/geo-service" serve --host "$HOST" --port "$PORT"
