#!/usr/bin/env bash
# Runs the storage and API tests against this machine's Debian PostgreSQL 15, the oldest
# version EmailStore supports. initdb goes into a temporary directory; as root, the server runs
# as the `postgres` system user (PostgreSQL refuses to run as root). It listens only on a
# private Unix socket and is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${PG15_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "PostgreSQL 15 binaries not found in $BIN: skipping the PostgreSQL 15 run (install Debian's postgresql-15 to enable it)"
  exit 0
fi

work=$(mktemp -d /tmp/emailstore-pg15-XXXXXX)
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$work"; fi
cleanup() {
  as_pg "$BIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

as_pg "$BIN/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg mkdir "$work/sock"
as_pg "$BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-k $work/sock -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
version=$("$BIN/postgres" --version)
echo "== storage and API tests against $version (socket $work/sock)"
EMAILSTORE_TEST_DATABASE_URL="postgresql://postgres@/postgres?host=$work/sock" \
  .venv/bin/python -m pytest tests/store tests/api -q -p no:cacheprovider
