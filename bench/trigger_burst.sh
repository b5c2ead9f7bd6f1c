#!/usr/bin/env bash
# Measures a trigger burst: FILES (default 10,000) datalake uploads, each
# firing one run of a one-step workflow on the mock backend, through a real
# `koya server` (SQLite). Files are written into the server's database by the
# test process, so the server sees them only through the outbox of data
# events, as it would another replica's uploads.
#
#   bash bench/trigger_burst.sh [FILES] [kill]
#
# Prints the files written, runs started, runs/s (first event to last run
# created), lag event → run created (p50, p99, max); the test fails unless
# every file got exactly one run. With "kill", the server is killed -9 once
# a quarter of the runs started (the acceptance test's shape).
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-10000}
if [ "${2:-}" = kill ]; then
  unset KOYA_BURST_NOKILL
else
  export KOYA_BURST_NOKILL=1
fi
KOYA_BURST_FILES=$FILES go test ./cmd/koya -run 'TestTriggerBurstKillNine$' -count 1 -v -timeout 10m 2>&1 |
  grep -E 'burst_test.go|^(ok|FAIL|---)' 
