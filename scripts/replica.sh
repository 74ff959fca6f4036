#!/usr/bin/env bash
# A PostgreSQL streaming replica for DATABASE_REPLICA_URL (docs/scaling.md, "Read replicas").
#
#   scripts/replica.sh standby PRIMARY_HOST PRIMARY_PORT DIR PORT
#       Copy a running primary with pg_basebackup (-R -X stream) into DIR/data and start it
#       as a hot standby on PORT: it replays the primary's WAL and answers read-only queries.
#       The primary needs wal_level=replica (the default), max_wal_senders > 0 and a
#       pg_hba.conf "replication" line for REPLICATION_USER (default postgres) from this host.
#   scripts/replica.sh primary DIR PORT
#       A small throwaway primary (initdb, trust auth on 127.0.0.1 only): for tests and
#       trying the above without touching a real server.
#   scripts/replica.sh stop DIR
#       Stop the cluster in DIR (either kind).
#
# DIR holds the cluster: DIR/data (PGDATA), DIR/log, and its Unix socket (kept out of the
# data directory, which pg_basebackup copies). Run as root (commands then run as the
# postgres system user) or as postgres. Environment: PG_BIN (the server's binaries;
# default: pg_config --bindir, else /usr/lib/postgresql/15/bin), LISTEN (listen_addresses,
# default 127.0.0.1), REPLICATION_USER.
set -euo pipefail

PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
LISTEN=${LISTEN:-127.0.0.1}
REPLICATION_USER=${REPLICATION_USER:-postgres}

usage() {
    sed -n '2,14p' "$0" >&2
    exit 2
}

# The server refuses to run as root: as root, act as the postgres system user.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# DIR must belong to postgres (mode 700: initdb and the server insist).
make_home() {
    mkdir -p "$1"
    if ! as_postgres test -x "$(dirname "$1")"; then
        echo "replica.sh: the postgres user cannot enter $(dirname "$1") (make it 755)" >&2
        exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$1"
    fi
    chmod 700 "$1"
}

start() {
    # -w: return once it accepts connections (for a standby: once it has reached a
    # consistent state and serves reads).
    as_postgres "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/log" -w -t 120 start >/dev/null
}

primary() {
    local dir=$1 port=$2
    make_home "$dir"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 \
        --locale=C.UTF-8 >/dev/null
    cat <<EOF | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
# scripts/replica.sh primary: a small throwaway primary.
listen_addresses = '$LISTEN'
port = $port
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 5
shared_buffers = 32MB
EOF
    start "$dir"
}

standby() {
    local host=$1 primary_port=$2 dir=$3 port=$4
    make_home "$dir"
    # -R writes primary_conninfo and standby.signal; -X stream copies the WAL written while
    # the copy runs, so the copy is consistent on its own; -c fast starts at once.
    as_postgres "$PG_BIN/pg_basebackup" -h "$host" -p "$primary_port" -U "$REPLICATION_USER" \
        -D "$dir/data" -R -X stream -c fast
    # postgresql.auto.conf wins over the postgresql.conf copied from the primary.
    # hot_standby_feedback: a long map or tally read on the standby is not cancelled
    # because the primary vacuumed away rows it still reads.
    cat <<EOF | as_postgres tee -a "$dir/data/postgresql.auto.conf" >/dev/null
# scripts/replica.sh standby of $host:$primary_port
listen_addresses = '$LISTEN'
port = $port
unix_socket_directories = '$dir'
hot_standby = on
hot_standby_feedback = on
EOF
    start "$dir"
}

stop() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
}

case "${1:-}" in
primary) [ $# = 3 ] || usage; primary "$2" "$3" ;;
standby) [ $# = 5 ] || usage; standby "$2" "$3" "$4" "$5" ;;
stop) [ $# = 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
