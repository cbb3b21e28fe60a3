#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, on 127.0.0.1, with trust auth.
#
# Usage: scripts/postgres.sh start|stop|status|url|reset
#   start   install PostgreSQL with apt if missing (as root), create the cluster under var/pg,
#           start it and create the database; prints the URL on stdout (nothing else).
#   stop    stop the server (no-op when it is not running).
#   status  exit 0 when the server runs.
#   url     print the URL of the running server.
#   reset   drop and re-create the test database, so a run starts from an empty one.
# Every command is safe to repeat. PGPORT picks the first port to try (default 55432).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DB=inbox_test
SUPERUSER=postgres
FIRST_PORT=${PGPORT:-55432}

say() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_root() { [[ "$(id -u)" == 0 ]]; }

# Root may not run the server, so it runs as the system user "postgres"; others run it as themselves.
# It starts from / because that user may not be allowed into the caller's directory.
as_owner() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

find_bindir() {
  local dir
  # The newest Debian-packaged version first; then whatever is on PATH.
  for dir in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
    [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
  done
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  return 1
}

install_postgres() {
  is_root || die "PostgreSQL is not installed: run 'sudo apt-get install postgresql'"
  say "installing PostgreSQL with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends postgresql >&2
}

ensure_user() {
  is_root || return 0
  id -u postgres >/dev/null 2>&1 && return 0
  say "creating the system user postgres"
  useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
    --shell /usr/sbin/nologin postgres
}

# Where the cluster lives: var/pg in the checkout, unless the server's user cannot reach it
# (a checkout under /root) or the socket path would be too long for a unix socket.
cluster_root() {
  local root="$REPO/var/pg"
  if is_root && id -u postgres >/dev/null 2>&1 && ! as_owner test -x "$REPO"; then
    root=""
  elif (( ${#root} > 80 )); then
    root=""
  fi
  if [[ -z "$root" ]]; then
    root="${TMPDIR:-/tmp}/inbox-gateway-pg-$(printf '%s' "$REPO" | md5sum | cut -c1-8)"
  fi
  echo "$root"
}

locate() {
  ROOT=$(cluster_root)
  DATA="$ROOT/data"
  SOCKETS="$ROOT/run"
  LOG="$ROOT/server.log"
}
BINDIR=""
locate

need_bindir() {
  [[ -n "$BINDIR" ]] && return 0
  BINDIR=$(find_bindir) || { install_postgres; BINDIR=$(find_bindir) || die "no initdb/pg_ctl after install"; }
}

running() {
  [[ -f "$DATA/PG_VERSION" ]] || return 1
  need_bindir
  as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# The port of the running server, from line 4 of postmaster.pid.
running_port() { sed -n 4p "$DATA/postmaster.pid"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port=$FIRST_PORT
  while port_in_use "$port"; do
    port=$((port + 1))
    (( port < FIRST_PORT + 100 )) || die "no free port in $FIRST_PORT..$port"
  done
  echo "$port"
}

url() { echo "postgresql://$SUPERUSER@127.0.0.1:$(running_port)/$DB"; }

psql_admin() {
  local psql="$BINDIR/psql"
  [[ -x "$psql" ]] || psql=psql
  "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(running_port)" \
    -U "$SUPERUSER" -d postgres "$@"
}

init_cluster() {
  local version
  version=$("$BINDIR/pg_ctl" --version | awk '{print $3}' | cut -d. -f1)
  if [[ -f "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" != "$version" ]]; then
    say "discarding a cluster of PostgreSQL $(cat "$DATA/PG_VERSION") (binaries are $version)"
    rm -rf "$DATA"
  fi
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  say "creating a cluster in $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA" "$SOCKETS"
  is_root && chown -R postgres: "$ROOT"
  chmod 700 "$DATA"
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
    --locale=C --no-sync >/dev/null
  # A disposable test server: durability buys nothing and costs test time.
  cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKETS'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
}

start() {
  need_bindir
  ensure_user
  locate
  mkdir -p "$ROOT"
  is_root && chown postgres: "$ROOT"
  if ! running; then
    init_cluster
    mkdir -p "$SOCKETS"
    is_root && chown postgres: "$SOCKETS" && touch "$LOG" && chown postgres: "$LOG"
    local port
    port=$(free_port)
    say "starting PostgreSQL on 127.0.0.1:$port (log: $LOG)"
    # -l sends the server's output to the log, so no caller's pipe is held open by it.
    as_owner "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port" >/dev/null \
      || { tail -n 20 "$LOG" >&2; die "the server did not start"; }
  fi
  if [[ -z "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]]; then
    psql_admin -c "CREATE DATABASE $DB"
  fi
  url
}

stop() {
  if running; then
    as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
  fi
}

reset() {
  running || die "not running: run 'scripts/postgres.sh start' first"
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  url) running || die "not running"; url ;;
  reset) reset ;;
  *) say "usage: scripts/postgres.sh start|stop|status|url|reset"; exit 2 ;;
esac
