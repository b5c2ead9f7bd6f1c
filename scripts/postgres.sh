#!/usr/bin/env bash
# Makes a local PostgreSQL ready for koya's tests and prints its URL on the
# last line of stdout:
#
#   postgres://koya:koya@127.0.0.1:5432/koya?sslmode=disable
#
# Installs Debian's postgresql when it is missing, starts the cluster, and
# creates the role koya (password koya, allowed to create the throwaway
# databases tests use) and the database koya. Safe to run any number of times.
set -euo pipefail

URL="postgres://koya:koya@127.0.0.1:5432/koya?sslmode=disable"

log() { echo "postgres.sh: $*" >&2; }

# Already usable (e.g. a second run, or a server someone else started): done.
ready() { PGPASSWORD=koya PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U koya -d koya -Atqc 'SELECT 1' >/dev/null 2>&1; }
if command -v psql >/dev/null && ready; then
  echo "$URL"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  log "PostgreSQL is not ready at 127.0.0.1:5432 and setting it up needs root:"
  log "  sudo bash $0"
  exit 1
fi

as_postgres() { runuser -u postgres -- "$@"; }

if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  log "installing Debian's postgresql..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

# The newest installed major version.
VER="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
if [ -z "$VER" ]; then
  log "no PostgreSQL server found under /usr/lib/postgresql"
  exit 1
fi
if [ ! -d "/etc/postgresql/$VER/main" ]; then
  log "creating cluster $VER/main"
  pg_createcluster "$VER" main >/dev/null
fi

status="$(pg_lsclusters --no-header | awk -v v="$VER" '$1 == v && $2 == "main" {print $4}')"
if [ "$status" != "online" ]; then
  log "starting cluster $VER/main"
  pg_ctlcluster --skip-systemctl-redirect "$VER" main start
fi

# Wait until the server accepts connections on its socket.
for _ in $(seq 1 60); do
  if as_postgres psql -Atqc 'SELECT 1' >/dev/null 2>&1; then
    break
  fi
  sleep 0.5
done
as_postgres psql -Atqc 'SELECT 1' >/dev/null

# Role and database, idempotently. CREATEDB: tests create a database each.
as_postgres psql -v ON_ERROR_STOP=1 -Atq >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'koya') THEN
    CREATE ROLE koya LOGIN CREATEDB PASSWORD 'koya';
  ELSE
    ALTER ROLE koya LOGIN CREATEDB PASSWORD 'koya';
  END IF;
END
$$;
SQL
if [ -z "$(as_postgres psql -Atqc "SELECT 1 FROM pg_database WHERE datname = 'koya'")" ]; then
  as_postgres createdb -O koya koya
fi

# pg_hba.conf of Debian's clusters allows password logins on 127.0.0.1;
# wait for the TCP listener as the tests will use it.
for _ in $(seq 1 60); do
  if ready; then
    echo "$URL"
    exit 0
  fi
  sleep 0.5
done
log "PostgreSQL did not accept connections on 127.0.0.1:5432 as koya"
exit 1
