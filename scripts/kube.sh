#!/usr/bin/env bash
# A real Kubernetes API server for koya's tests, on 127.0.0.1 only.
#
#   bash scripts/kube.sh [up]   build (once, cached) and start; prints the
#                               kubeconfig path on the LAST line of stdout
#   bash scripts/kube.sh build  only build the binaries into the cache
#   bash scripts/kube.sh down   stop the processes this script started
#   bash scripts/kube.sh status print what runs
#
# What runs (each process in the background, logs in $KOYA_KUBE_RUN/*.log):
#   etcd            3.6 built from go.etcd.io/etcd/server/v3, data in the run dir
#   kube-apiserver  built from k8s.io/kubernetes, self-signed serving cert,
#                   static admin token (group system:masters), Node,RBAC
#   kube-scheduler  the real scheduler, --kubeconfig only
#   kwok            simulates nodes and pod lifecycles from Stage objects
# No kube-controller-manager runs: no ServiceAccount, namespace, garbage
# collection or job controllers. Clients create the ServiceAccounts they use
# (the `default` one included), and namespaces stay Terminating unless the
# client finalizes them (kubetest.Namespace does).
#
# Fake nodes (managed by kwok through the annotation kwok.x-k8s.io/node=fake):
#   kwok-node-0, kwok-node-1   cpu 8, memory 32Gi, pods 110
#   kwok-gpu-0                 cpu 16, memory 64Gi, pods 110, nvidia.com/gpu 2,
#                              label koya.dev/gpu=true
#
# Pod outcomes a test asks for (koya's stage: write_koya_stages below;
# internal/backend/kubernetes/kubetest documents the same contract):
#   koya.dev/kwok-exit: "<code>"   Running, then containers terminate with that
#                                  exit code; phase Succeeded (0) or Failed
#   koya.dev/kwok-exit: "never"    stays Running until deleted
#   koya.dev/kwok-reason: OOMKilled   the terminated reason (default Completed
#                                  for 0, Error otherwise)
#   koya.dev/kwok-delay: 300ms     how long it stays Running first (default 1s)
# Pods without koya.dev/kwok-exit follow kwok's default stages (Running;
# pods owned by a Job complete with exit 0).
#
# Environment:
#   KOYA_KUBE_CACHE  binaries, kwok's Stage CRD and default stages, build
#                    modules (default ~/.cache/koya/kube/<versions>)
#   KOYA_KUBE_RUN    run dir: certs, etcd data, logs, pids, kubeconfig
#                    (default /tmp/koya-kube)
#   KOYA_KUBE_PORT   kube-apiserver port (default 16443)
#   KOYA_KUBE_ETCD_PORT       etcd client port (default 12379; peer: +1)
#   KOYA_KUBE_SCHEDULER_PORT  kube-scheduler health port (default 10259)
# kwok serves nothing. Everything listens on 127.0.0.1 only.
set -euo pipefail

K8S_VERSION=1.37.2     # k8s.io/kubernetes v$K8S_VERSION, staging modules v0.${K8S_VERSION#1.}
ETCD_VERSION=3.6.6
KWOK_VERSION=0.8.0

STAGING_VERSION="v0.${K8S_VERSION#1.}"
CACHE="${KOYA_KUBE_CACHE:-$HOME/.cache/koya/kube/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION}"
BIN="$CACHE/bin"
RUN="${KOYA_KUBE_RUN:-/tmp/koya-kube}"
PORT="${KOYA_KUBE_PORT:-16443}"
ETCD_PORT="${KOYA_KUBE_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
SCHED_PORT="${KOYA_KUBE_SCHEDULER_PORT:-10259}"
KUBECONFIG_FILE="$RUN/kubeconfig"
SERVER="https://127.0.0.1:$PORT"

log() { echo "kube.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- build

# go build flags shared by every binary: small, reproducible, static.
build_env() {
  export CGO_ENABLED=0 GONOSUMDB=k8s.io GOFLAGS="${GOFLAGS:-} -mod=mod"
  export GOTOOLCHAIN=local
}
BUILD_FLAGS=(-trimpath "-ldflags=-s -w")

have_bins() {
  for b in kube-apiserver kube-scheduler etcd kwok; do
    [ -x "$BIN/$b" ] || return 1
  done
  [ -f "$CACHE/kwok/crd-stages.yaml" ]
}

build_kubernetes() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-scheduler" ] && return 0
  local mod="$CACHE/src/kubernetes"
  mkdir -p "$mod" "$BIN"
  (
    cd "$mod"
    build_env
    if [ ! -f go.mod ] || ! grep -q "k8s.io/kubernetes v$K8S_VERSION" go.mod; then
      rm -f go.mod go.sum
      go mod init koya.local/kubebuild >/dev/null 2>&1
      # Every staging module k8s.io/kubernetes requires as v0.0.0 (it
      # replaces them with ./staging/... in its own tree) is replaced with
      # its published version.
      local gomod
      gomod="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
      [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$K8S_VERSION"
      local staging
      staging="$(awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// {print $1}' "$gomod" | sort -u)"
      [ -n "$staging" ] || die "no staging modules found in $gomod"
      {
        echo "require k8s.io/kubernetes v$K8S_VERSION"
        echo "replace ("
        for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
        echo ")"
      } >>go.mod
      printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler"\n)\n' >tools.go
      log "resolving k8s.io/kubernetes v$K8S_VERSION ($(echo "$staging" | wc -l) staging modules at $STAGING_VERSION)"
      go mod tidy >/dev/null 2>&1 || go mod tidy
    fi
    log "building kube-apiserver and kube-scheduler v$K8S_VERSION (the long part: ~10 minutes on 2 cores)"
    go build "${BUILD_FLAGS[@]}" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler
  )
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return 0
  local mod="$CACHE/src/etcd"
  mkdir -p "$mod" "$BIN"
  (
    cd "$mod"
    build_env
    if [ ! -f go.mod ] || ! grep -q "go.etcd.io/etcd/server/v3 v$ETCD_VERSION" go.mod; then
      rm -f go.mod go.sum
      go mod init koya.local/etcdbuild >/dev/null 2>&1
      echo "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION" >>go.mod
      printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
      go mod tidy >/dev/null 2>&1 || go mod tidy
    fi
    log "building etcd v$ETCD_VERSION"
    go build "${BUILD_FLAGS[@]}" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
}

build_kwok() {
  [ -x "$BIN/kwok" ] && [ -f "$CACHE/kwok/crd-stages.yaml" ] && return 0
  mkdir -p "$BIN" "$CACHE/kwok"
  (
    build_env
    export GOFLAGS="${GOFLAGS//-mod=mod/}" # not allowed with pkg@version
    log "building kwok v$KWOK_VERSION"
    GOBIN="$BIN" go install "${BUILD_FLAGS[@]}" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
    # The Stage CRD and kwok's default stages, from the same module.
    local src
    src="$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
    [ -d "$src/kustomize" ] || die "kwok v$KWOK_VERSION source not found"
    cp "$src/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" "$CACHE/kwok/crd-stages.yaml"
    for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
      pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
      cp "$src/kustomize/stage/$f.yaml" "$CACHE/kwok/stage-$(basename "$f").yaml"
    done
    chmod -R u+w "$CACHE/kwok"
  )
}

build() {
  have_bins && return 0
  command -v go >/dev/null || die "go is needed to build the test cluster"
  local t0=$SECONDS
  build_etcd
  build_kwok
  build_kubernetes
  have_bins || die "build incomplete in $BIN"
  log "built in $((SECONDS - t0))s into $BIN"
}

# ---------------------------------------------------------------- run

TOKEN_FILE="$RUN/token"
PROCS=(etcd kube-apiserver kube-scheduler kwok) # start order

# pid_of NAME prints the pid of our NAME process if it is alive and is our
# binary (never a process of the same name that someone else started).
pid_of() {
  local f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BIN/$1" ] || return 1
  echo "$pid"
}

api() {
  curl -sS --fail-with-body --max-time 20 -k -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "$@"
}

healthy() {
  [ -f "$KUBECONFIG_FILE" ] && [ -f "$TOKEN_FILE" ] || return 1
  local p
  for p in "${PROCS[@]}"; do pid_of "$p" >/dev/null || return 1; done
  [ "$(curl -sk --max-time 5 "$SERVER/readyz" 2>/dev/null)" = ok ] || return 1
  [ "$(curl -sk --max-time 5 "https://127.0.0.1:$SCHED_PORT/healthz" 2>/dev/null)" = ok ] || return 1
}

stop() {
  local i p pid
  for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do
    p="${PROCS[$i]}"
    if pid="$(pid_of "$p")"; then
      log "stopping $p ($pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$p.pid"
  done
}

# launch NAME ARGS...: start $BIN/NAME in the background, logging to
# $RUN/NAME.log. fd 9 (the lock) is closed so that it is not inherited.
launch() {
  local name="$1"
  shift
  log "starting $name (log: $RUN/$name.log)"
  nohup "$BIN/$name" "$@" >"$RUN/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/$name.pid"
}

# wait_for WHAT SECONDS PROCESS CMD...: poll CMD until it succeeds, failing
# early when PROCESS exits.
wait_for() {
  local what="$1" secs="$2" name="$3"
  shift 3
  for _ in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! pid_of "$name" >/dev/null; then
      tail -n 30 "$RUN/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $RUN/$name.log)"
    fi
    sleep 0.25
  done
  tail -n 30 "$RUN/$name.log" >&2 || true
  die "timed out after ${secs}s waiting for $what (log: $RUN/$name.log)"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# apply PATH NAME FILE: server-side apply of one YAML document.
apply() {
  api -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
    --data-binary @"$3" "$SERVER$1/$2?fieldManager=koya-kube-sh&force=true" >/dev/null ||
    die "could not apply $3 to $1/$2"
}

merge_patch() {
  api -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary "$3" "$SERVER$1/$2" >/dev/null || die "could not patch $1/$2"
}

readyz() { [ "$(curl -sk --max-time 5 "$1")" = ok ]; }

node_ready() {
  api "$SERVER/api/v1/nodes/$1" | grep -q '"reason": *"KubeletReady"'
}

write_kubeconfig() {
  local ca
  ca="$(base64 -w0 <"$RUN/pki/apiserver.crt")"
  (
    umask 077
    cat >"$KUBECONFIG_FILE.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: koya-test
  cluster:
    server: $SERVER
    certificate-authority-data: $ca
users:
- name: koya-admin
  user:
    token: $(cat "$TOKEN_FILE")
contexts:
- name: koya-test
  context:
    cluster: koya-test
    user: koya-admin
current-context: koya-test
KUBECONFIG
  )
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

# koya's stage: a pod annotated koya.dev/kwok-exit: "<code>" terminates its
# containers with that code after koya.dev/kwok-delay (default 1s) of
# Running; "never" keeps it Running (kwok's pod-ready made it Running). The
# weight makes it win over kwok's pod-complete for pods owned by a Job.
write_koya_stages() {
  cat >"$RUN/stages/koya-pod-exit.yaml" <<'STAGE'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: koya-pod-exit
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.annotations["koya.dev/kwok-exit"]'
      operator: 'Exists'
    - key: '.metadata.annotations["koya.dev/kwok-exit"]'
      operator: 'NotIn'
      values:
      - 'never'
  weight: 100
  delay:
    durationMilliseconds: 1000
    durationFrom:
      expressionFrom: '.metadata.annotations["koya.dev/kwok-delay"]'
  next:
    event:
      type: Normal
      reason: KwokExit
      message: containers terminated as koya.dev/kwok-exit asked
    statusTemplate: |
      {{ $now := Now }}
      {{ $code := index .metadata.annotations "koya.dev/kwok-exit" | atoi }}
      {{ $reason := index .metadata.annotations "koya.dev/kwok-reason" | default (ternary "Completed" "Error" (eq $code 0)) }}
      {{ $started := or .status.startTime $now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        reason: PodCompleted
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        reason: PodCompleted
        status: "False"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ $code }}
            reason: {{ $reason | Quote }}
            startedAt: {{ $started | Quote }}
            finishedAt: {{ $now | Quote }}
      {{ end }}
      phase: {{ if eq $code 0 }}Succeeded{{ else }}Failed{{ end }}
STAGE
}

# name cpu memory gpus
NODES=("kwok-node-0 8 32Gi 0" "kwok-node-1 8 32Gi 0" "kwok-gpu-0 16 64Gi 2")

write_node() {
  local name="$1" gpu="$2"
  {
    echo "apiVersion: v1"
    echo "kind: Node"
    echo "metadata:"
    echo "  name: $name"
    echo "  annotations:"
    echo "    kwok.x-k8s.io/node: fake"
    echo "    node.alpha.kubernetes.io/ttl: \"0\""
    echo "  labels:"
    echo "    kubernetes.io/hostname: $name"
    echo "    kubernetes.io/os: linux"
    echo "    kubernetes.io/arch: amd64"
    echo "    type: kwok"
    [ "$gpu" = 0 ] || echo "    koya.dev/gpu: \"true\""
  } >"$RUN/nodes/$name.yaml"
}

node_status() {
  local cpu="$1" mem="$2" gpu="$3" res
  res="\"cpu\":\"$cpu\",\"memory\":\"$mem\",\"pods\":\"110\",\"ephemeral-storage\":\"100Gi\""
  [ "$gpu" = 0 ] || res="$res,\"nvidia.com/gpu\":\"$gpu\""
  echo "{\"status\":{\"capacity\":{$res},\"allocatable\":{$res}}}"
}

start() {
  local need port
  for need in curl openssl; do
    command -v "$need" >/dev/null && continue
    [ "$(id -u)" = 0 ] || die "$need is missing: apt-get install $need"
    log "installing $need..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$need" >/dev/null
  done
  stop
  for port in "$ETCD_PORT" "$ETCD_PEER_PORT" "$PORT" "$SCHED_PORT"; do
    port_free "$port" || die "127.0.0.1:$port is in use by another process"
  done
  local t0=$SECONDS
  rm -rf "$RUN/etcd" "$RUN/stages" "$RUN/nodes"
  mkdir -p "$RUN/pki" "$RUN/stages" "$RUN/nodes"
  chmod 700 "$RUN"

  # Credentials, made once per run dir.
  if [ ! -f "$RUN/pki/sa.key" ]; then
    openssl genrsa -out "$RUN/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$RUN/pki/sa.key" -pubout -out "$RUN/pki/sa.pub" 2>/dev/null
  fi
  if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE")
  fi
  echo "$(cat "$TOKEN_FILE"),koya-admin,koya-admin,\"system:masters\"" >"$RUN/pki/tokens.csv"

  launch etcd --name koya-test --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "koya-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) --log-level=warn
  wait_for etcd 60 etcd curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  launch kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" \
    --cert-dir="$RUN/pki" \
    --token-auth-file="$RUN/pki/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/pki/sa.pub" \
    --service-account-signing-key-file="$RUN/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none \
    --profiling=false
  wait_for "kube-apiserver /readyz" 180 kube-apiserver readyz "$SERVER/readyz"
  write_kubeconfig

  # kwok's Stage CRD, its default node and pod stages, and koya's.
  log "applying kwok's Stage CRD and stages"
  sed '/^---$/d' "$CACHE/kwok/crd-stages.yaml" >"$RUN/stages/crd.yaml"
  apply /apis/apiextensions.k8s.io/v1/customresourcedefinitions stages.kwok.x-k8s.io "$RUN/stages/crd.yaml"
  wait_for "the Stage CRD" 60 kube-apiserver api "$SERVER/apis/kwok.x-k8s.io/v1alpha1/stages"
  cp "$CACHE"/kwok/stage-*.yaml "$RUN/stages/"
  write_koya_stages
  local f name
  for f in "$RUN"/stages/stage-*.yaml "$RUN"/stages/koya-*.yaml; do
    name="$(sed -n 's/^  name: //p' "$f" | head -n 1)"
    apply /apis/kwok.x-k8s.io/v1alpha1/stages "$name" "$f"
  done

  # Fake nodes. With no controller-manager, nothing would remove the
  # not-ready taint that the TaintNodesByCondition admission plugin puts on
  # new nodes: remove it here.
  log "creating nodes"
  local n
  for n in "${NODES[@]}"; do
    # shellcheck disable=SC2086
    set -- $n
    write_node "$1" "$4"
    apply /api/v1/nodes "$1" "$RUN/nodes/$1.yaml"
    merge_patch /api/v1/nodes "$1" '{"spec":{"taints":null}}'
    merge_patch /api/v1/nodes "$1/status" "$(node_status "$2" "$3" "$4")"
  done

  # No ServiceAccount controller: pods need their ServiceAccount to exist.
  for ns in default kube-system; do
    api -X POST -H 'Content-Type: application/json' \
      --data "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"default\",\"namespace\":\"$ns\"}}" \
      "$SERVER/api/v1/namespaces/$ns/serviceaccounts" >/dev/null 2>&1 || true
  done

  launch kube-scheduler --kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false
  launch kwok --kubeconfig="$KUBECONFIG_FILE" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --enable-crds=Stage --node-lease-duration-seconds=40 --cidr=10.244.0.0/16
  wait_for "kube-scheduler /healthz" 120 kube-scheduler readyz "https://127.0.0.1:$SCHED_PORT/healthz"
  for n in "${NODES[@]}"; do
    # shellcheck disable=SC2086
    set -- $n
    wait_for "node $1 Ready (kwok)" 120 kwok node_ready "$1"
  done
  log "cluster up in $((SECONDS - t0))s: $SERVER (kubeconfig $KUBECONFIG_FILE)"
}

status() {
  local p pid
  for p in "${PROCS[@]}"; do
    if pid="$(pid_of "$p")"; then echo "$p: running ($pid)"; else echo "$p: not running"; fi
  done
  if healthy; then echo "healthy: $KUBECONFIG_FILE"; else echo "not healthy"; fi
}

up() {
  mkdir -p "$RUN"
  if healthy; then
    echo "$KUBECONFIG_FILE"
    return 0
  fi
  exec 9>"$RUN/lock"
  flock 9 # another call may be starting it: wait for it, then look again
  if healthy; then
    echo "$KUBECONFIG_FILE"
    return 0
  fi
  build
  start
  healthy || die "the cluster did not come up healthy (logs in $RUN)"
  echo "$KUBECONFIG_FILE"
}

case "${1:-up}" in
  up) up ;;
  build) build ;;
  down)
    mkdir -p "$RUN"
    exec 9>"$RUN/lock"
    flock 9
    stop
    ;;
  status) status ;;
  *) die "usage: $0 [up|build|down|status]" ;;
esac
