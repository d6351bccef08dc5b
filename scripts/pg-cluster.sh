#!/usr/bin/env bash
# A private PostgreSQL cluster for tests and benches, owned by an unprivileged user, in a
# directory of its own, reached over a unix socket in that directory (no TCP port, nothing shared
# with a system database).
#
#   scripts/pg-cluster.sh find          prints the directory of initdb/pg_ctl, fails if none
#   scripts/pg-cluster.sh start DIR     initdb (first time) + start; prints the conninfo
#   scripts/pg-cluster.sh stop DIR      fast stop (the data stays)
#   scripts/pg-cluster.sh kill DIR      `pg_ctl stop -m immediate`: as a crash of the server
#   scripts/pg-cluster.sh restart DIR   start again after stop or kill
#   scripts/pg-cluster.sh destroy DIR   stop and remove DIR
#
# As root, the cluster runs as the user `nobody` (PostgreSQL refuses to run as root); DIR is
# created and handed to that user. The database superuser is `gearlet`, trust authentication on
# the socket only, database `postgres` (the one initdb creates in the private cluster).
set -euo pipefail

find_bin() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    # Debian keeps the server binaries out of PATH, one directory per major version.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
if [ "$cmd" = find ]; then
    find_bin || { echo "no PostgreSQL server binaries (initdb, pg_ctl) found" >&2; exit 1; }
    exit 0
fi
dir=${2:?usage: pg-cluster.sh start|stop|kill|restart|destroy DIR}
bin=$(find_bin) || { echo "no PostgreSQL server binaries (initdb, pg_ctl) found" >&2; exit 1; }
port=5432
data="$dir/data"
sock="$dir"

start() {
    if [ ! -d "$data" ]; then
        mkdir -p "$dir"
        if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; fi
        chmod 700 "$dir"
        as_owner "$bin/initdb" -D "$data" -U gearlet --auth=trust -E UTF8 --no-locale \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        # Tests and benches need many connections (gearmand opens one per thread) and nothing
        # durable beyond what a crash of the server keeps: fsync stays on, as in production.
        cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
max_connections = 100
shared_buffers = 128MB
CONF
    fi
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "host=$sock port=$port user=gearlet dbname=postgres"
}

case "$cmd" in
    start|restart) start ;;
    stop) as_owner "$bin/pg_ctl" -D "$data" -w -m fast stop >/dev/null ;;
    kill) as_owner "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null ;;
    destroy)
        as_owner "$bin/pg_ctl" -D "$data" -w -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$dir"
        ;;
    *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
