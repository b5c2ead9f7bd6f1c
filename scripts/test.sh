#!/usr/bin/env bash
# Runs every test of koya on a fresh machine: installs and starts what the
# tests need (PostgreSQL, Python with scikit-learn for the demo workflow,
# iptables),
# then go vet and the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "PostgreSQL"
KOYA_TEST_POSTGRES="$(bash scripts/postgres.sh | tail -n 1)"
export KOYA_TEST_POSTGRES
echo "using $KOYA_TEST_POSTGRES"

log "Python for the example workflow"
bash scripts/python-deps.sh

log "iptables (the local backend blocks the cloud metadata addresses with it)"
if ! command -v iptables >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables >/dev/null
  else
    echo "iptables is missing; the metadata-blocking tests need root and 'apt-get install iptables'" >&2
  fi
fi
command -v iptables || true

log "Podman (the container backend's tests run against its Docker API)"
KOYA_TEST_DOCKER="$(bash scripts/podman.sh | tail -n 1)"
export KOYA_TEST_DOCKER
echo "using $KOYA_TEST_DOCKER"

log "Kubernetes (kube-apiserver, etcd, kube-scheduler and kwok, built once into ~/.cache/koya/kube)"
KOYA_TEST_KUBECONFIG="$(bash scripts/kube.sh | tail -n 1)"
export KOYA_TEST_KUBECONFIG
echo "using $KOYA_TEST_KUBECONFIG"

log "go vet"
go vet ./...

log "go test -race"
# -p 2: this machine has two cores; the engine and backend suites start many
# processes of their own.
go test -race -p 2 -timeout 40m -count=1 ./... 2>&1 | tee /tmp/koya-test.log
