#!/usr/bin/env bash
# Datalake metadata search at scale: loads N files (default 1,000,000)
# with 5-10 free metadata keys each into SQLite and PostgreSQL, then
# prints p50/p99 of query shapes run through FindFiles/CountFiles, the
# same queries on a JSONB + GIN baseline (PostgreSQL), and sizes on disk.
#
#   N=200000 RUNS=100 bench/datalake.sh [sqlite|postgres|both]
#
# PostgreSQL: KOYA_TEST_POSTGRES names the server (scripts/postgres.sh);
# the benchmark runs in a database of its own (koya_lake_bench). The
# loaded data is kept (SQLite: $TMPDIR/lake-bench-N-SCHEMA.db) and reused
# by the next run with the same N and datalake schema; FRESH=1 reloads,
# CLEAN=1 deletes it at the end; REBUILD=1 rebuilds the bitmaps of reused data.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-200}
WHAT=${1:-both}
go build -o /tmp/koya-lake-bench ./bench/datalake
if [[ $WHAT == sqlite || $WHAT == both ]]; then
  /tmp/koya-lake-bench -db sqlite -n "$N" -runs "$RUNS" -dir "${TMPDIR:-/tmp}" -fresh="${FRESH:-0}" -rebuild="${REBUILD:-0}"
  if [[ ${CLEAN:-0} == 1 ]]; then rm -f "${TMPDIR:-/tmp}"/lake-bench-*.db*; fi
fi
if [[ $WHAT == postgres || $WHAT == both ]]; then
  : "${KOYA_TEST_POSTGRES:?set KOYA_TEST_POSTGRES (scripts/postgres.sh)}"
  db=koya_lake_bench
  if ! psql "$KOYA_TEST_POSTGRES" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql "$KOYA_TEST_POSTGRES" -qc "CREATE DATABASE $db"
  fi
  url=$(sed -E "s#/[^/?]+(\?|$)#/$db\1#" <<<"$KOYA_TEST_POSTGRES")
  /tmp/koya-lake-bench -db postgres -url "$url" -n "$N" -runs "$RUNS" -fresh="${FRESH:-0}" -rebuild="${REBUILD:-0}"
  if [[ ${CLEAN:-0} == 1 ]]; then psql "$KOYA_TEST_POSTGRES" -qc "DROP DATABASE $db"; fi
fi
