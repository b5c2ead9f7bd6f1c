#!/usr/bin/env bash
# The kubernetes backend against the test API server (scripts/kube.sh,
# kwok playing the pods): 1,000 pods created, tracked to completion through
# the driver's informer, their Status read and cleaned up (pod and Secret
# deleted); reports wall time, the driver's API requests and rate, and
# the CPU of koya, kube-apiserver and etcd. See bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
KOYA_TEST_KUBECONFIG="$(bash scripts/kube.sh | tail -n 1)"
export KOYA_TEST_KUBECONFIG
go test -count=1 -run '^$' -bench 'BenchmarkPods1000' -benchtime=1x ./internal/backend/kubernetes
