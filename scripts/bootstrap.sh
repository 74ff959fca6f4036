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
  fi
  if [ -n "${WITH_BENCH:-}" ]; then
    # scripts/bench.py's references: ogr2ogr for imports, wrk for requests per second.
    command -v ogr2ogr >/dev/null || missing+=(gdal-bin)
    command -v wrk >/dev/null || missing+=(wrk)
  fi
  # pg_dump/pg_restore of the server's major version, for geo-service backup/restore.
  [ -x "/usr/lib/postgresql/$pgmajor/bin/pg_dump" ] || missing+=("postgresql-client-$pgmajor")
  # ogr2ogr: the service reads AutoCAD 2000 drawings (.dwg) through GDAL's CAD driver with
  # it; the tests also open the service as GIS clients do (OAPIF, MVT drivers).
  command -v ogr2ogr >/dev/null || missing+=(gdal-bin)
  if [ -n "${WITH_LIBREOFFICE:-}" ]; then
    # LibreOffice's headless Calc for tests/test_export_page.py's print of the workbook.
    command -v soffice >/dev/null || missing+=(libreoffice-calc-nogui)
  fi
  if [ -n "${WITH_QGIS:-}" ]; then
    # Debian's QGIS (3.22 on bookworm) for tests/test_qgis.py, which follows docs/qgis.md.
    /usr/bin/python3 -c 'import qgis.core' 2>/dev/null || missing+=(qgis python3-qgis)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    # Another apt (unattended upgrades, a second set-up) may hold the dpkg lock: wait for it.
    apt_get update -qq || { sleep 15; apt_get update -qq; }
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq "${missing[@]}" >/dev/null
  fi
}

apt_get() { as_root apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# The local server DATABASE_URL names: host, port and user, or nothing for a remote one
# (which is never ours to start or configure) or a URL that carries its own password.
local_server() {
  local re='^postgres(ql)?(\+[a-z0-9]+)?://([^:@/]+)@(127\.0\.0\.1|localhost)(:([0-9]+))?(/|$)'
  [[ "$DATABASE_URL" =~ $re ]] || return 1
  PG_USER="${BASH_REMATCH[3]}" PG_HOST="${BASH_REMATCH[4]}" PG_PORT="${BASH_REMATCH[6]:-5432}"
}

start_postgresql() {
  local_server || return 0
  if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; then
    # The cluster listening on that port (Debian: pg_lsclusters), else the newest "main".
    local version name
    read -r version name < <(pg_lsclusters --no-header 2>/dev/null \
      | awk -v port="$PG_PORT" '$3 == port { print $1, $2; exit }') || true
    version="${version:-$(ls /etc/postgresql | sort -n | tail -1)}"
    echo "==> starting PostgreSQL $version/${name:-main}"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "${name:-main}" start
    for _ in $(seq 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
  fi
}

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

local_password() {
  # Debian's PostgreSQL asks for a password (scram-sha-256) on 127.0.0.1, and the default
  # URL has none. When a password-less connection is refused for that reason, give the
  # local role a generated password (over the Unix socket, as the postgres system user)
  # and write it to ~/.pgpass, which libpq reads. Never for a remote server, never over a
  # password someone already set.
  local_server || return 0
  local probe
  if probe="$(psql "host=$PG_HOST port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=10" \
      -w -XAtqc 'SELECT 1' 2>&1)"; then
    return 0
  fi
  case "$probe" in
    *password*) ;;
    *) echo "==> cannot connect to $PG_HOST:$PG_PORT as $PG_USER: $probe" >&2; return 1 ;;
  esac
  local sql="psql -X -q -A -t -p $PG_PORT -d postgres -v ON_ERROR_STOP=1"
  if [ "$(as_postgres $sql -c "SELECT rolpassword IS NOT NULL FROM pg_authid
        WHERE rolname = '$PG_USER'")" != "f" ]; then
    echo "==> $PG_HOST:$PG_PORT asks $PG_USER for a password: put it in DATABASE_URL or" \
      "~/.pgpass (the role has one already, or does not exist; it is left as it is)" >&2
    return 1
  fi
  local password
  password="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  echo "==> giving the local PostgreSQL role $PG_USER a generated password, kept in ~/.pgpass"
  as_postgres $sql -c "ALTER ROLE \"$PG_USER\" PASSWORD '$password'" >/dev/null
  local pgpass="${PGPASSFILE:-$HOME/.pgpass}"
  touch "$pgpass" && chmod 600 "$pgpass"
  printf '%s:%s:*:%s:%s\n' 127.0.0.1 "$PG_PORT" "$PG_USER" "$password" \
    localhost "$PG_PORT" "$PG_USER" "$password" >>"$pgpass"
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

install_test_assets() {
  # axe-core for the accessibility test (tests/test_browser_a11y.py): with the browser only,
  # again only when its package-lock.json changed.
  [ -n "${WITH_CHROMIUM:-}" ] || return 0
  local folder="$ROOT/tests/a11y" stamp lock
  stamp="$folder/node_modules/.geo-service-lock"
  lock="$(sha256sum "$folder/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock" ]; then
    echo "==> installing the accessibility checker (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error --prefix "$folder" >/dev/null
    echo "$lock" >"$stamp"
  fi
}

database_step() {
  start_postgresql
  local_password
  echo "==> migrating $DATABASE_URL"
  "$VENV/bin/geo-service" db upgrade
}

# `bootstrap.sh database`: only the database step (server, local password, migration),
# for a machine whose packages and venv are ready.
case "${1:-all}" in
  database) database_step ;;
  functions) ;; # only define them (tests)
  *)
    install_debian_packages
    make_venv
    install_map_assets
    install_test_assets
    database_step
    ;;
esac
