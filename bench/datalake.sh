#!/usr/bin/env bash
# Datalake metadata search at scale: loads N files (default 1,000,000)
# with 5-10 free metadata keys each into SQLite and PostgreSQL, then
# prints p50/p99 of query shapes run through FindFiles/CountFiles, the
# same queries on a JSONB + GIN baseline (PostgreSQL), and sizes on disk.
#
#   N=200000 RUNS=100 bench/datalake.sh [sqlite|postgres|both]
#
# PostgreSQL: KOYA_TEST_POSTGRES names the server (scripts/postgres.sh);
# the benchmark runs in a database of its own, dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-200}
WHAT=${1:-both}
go build -o /tmp/koya-lake-bench ./bench/datalake
if [[ $WHAT == sqlite || $WHAT == both ]]; then
  /tmp/koya-lake-bench -db sqlite -n "$N" -runs "$RUNS" -dir "${TMPDIR:-/tmp}"
  rm -f "${TMPDIR:-/tmp}"/lake-bench.db*
fi
if [[ $WHAT == postgres || $WHAT == both ]]; then
  : "${KOYA_TEST_POSTGRES:?set KOYA_TEST_POSTGRES (scripts/postgres.sh)}"
  db=koya_lake_bench
  psql "$KOYA_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  url=$(sed -E "s#/[^/?]+(\?|$)#/$db\1#" <<<"$KOYA_TEST_POSTGRES")
  /tmp/koya-lake-bench -db postgres -url "$url" -n "$N" -runs "$RUNS"
  psql "$KOYA_TEST_POSTGRES" -qc "DROP DATABASE $db"
fi
