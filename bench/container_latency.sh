#!/usr/bin/env bash
# Submit-to-running latency of the container backend against a bare
# `podman run -d --rm koya-test/busybox true` (which returns once the
# container runs): p50, p99 and their ratio
# (bench/RESULTS.md, "Container backend"). Needs root; sets Podman up with
# scripts/podman.sh. N iterations (default 50) of each, interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-50}"
KOYA_TEST_DOCKER="$(bash scripts/podman.sh | tail -n 1)"
export KOYA_TEST_DOCKER
go test -run '^$' -bench 'BenchmarkSubmitToRunning' -benchtime "${N}x" -count 1 ./internal/backend/container/
