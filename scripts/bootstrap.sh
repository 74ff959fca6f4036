#!/usr/bin/env bash
# Makes a fresh Debian machine ready: PostGIS on the local PostgreSQL, a virtual
# environment with the project in it, and the database migrated with reference data.
# Sourced by run-demo.sh and run-tests.sh; safe to run again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/geo_service}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=()
  local pgmajor
  pgmajor="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)"
  pgmajor="${pgmajor:-15}"
  [ -f "/usr/share/postgresql/$pgmajor/extension/postgis.control" ] \
    || missing+=("postgresql-$pgmajor-postgis-3")
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ -n "${WITH_CHROMIUM:-}" ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    # Chinese labels in test screenshots, rather than empty boxes.
    [ -n "$(fc-list :lang=zh 2>/dev/null)" ] || missing+=(fonts-wqy-zenhei)
    # scripts/bench.py's references: ogr2ogr for imports, wrk for requests per second.
    command -v ogr2ogr >/dev/null || missing+=(gdal-bin)
    command -v wrk >/dev/null || missing+=(wrk)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
  fi
}

start_postgresql() {
  # Only the local default server is ours to start; a remote DATABASE_URL is left alone.
  case "$DATABASE_URL" in
    *@127.0.0.1*|*@localhost*) ;;
    *) return 0 ;;
  esac
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "==> starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
}

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment $VENV"
    python3 -m venv "$VENV"
  fi
  echo "==> installing geo_service and its dependencies"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
}

install_map_assets() {
  # Leaflet & co. for the map pages, from the npm registry into node_modules (not
  # committed); again only when package-lock.json changed since the last install.
  local vendor="$ROOT/geo_service/maps/vendor" stamp lock
  stamp="$vendor/node_modules/.geo-service-lock"
  lock="$(sha256sum "$vendor/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock" ]; then
    echo "==> installing map assets (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error --prefix "$vendor" >/dev/null
    echo "$lock" >"$stamp"
  fi
}

install_debian_packages
start_postgresql
make_venv
install_map_assets
echo "==> migrating $DATABASE_URL"
"$VENV/bin/geo-service" db upgrade
