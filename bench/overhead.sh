#!/usr/bin/env bash
# Benchmark (a): engine overhead. One workflow of N trivial steps (`true`) on
# the local backend, against `xargs -P P` running the same N commands, with the
# same parallelism P, measured in one run on this machine. Prints the ratio.
#
#   bash bench/overhead.sh [N] [P] [COMMAND...]    (COMMAND defaults to true)
#
# SHAPE=steps (default) writes N steps; SHAPE=foreach one step fanned out
# over N items (xargs's own shape: one command over N inputs).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
P=${2:-$(( 4 * $(nproc) ))}
shift $(( $# < 2 ? $# : 2 ))
CMD=("${@:-true}")
yaml_cmd=$(printf '"%s", ' "${CMD[@]}"); yaml_cmd="[${yaml_cmd%, }]"

work=$(mktemp -d)
chmod 711 "$work" # tasks run as unprivileged users (when root) and pass through it
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/koya" ./cmd/koya
export KOYA_CONFIG="$work/config.yaml" HOME="$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/koya" server --addr "127.0.0.1:$port" --data-dir "$work/data" --max-running "$P" >"$work/server.log" 2>&1 &
echo $! >"$work/pid"
for _ in $(seq 100); do "$work/koya" get projects >/dev/null 2>&1 && break; sleep 0.1; done

{
  echo "apiVersion: koya.dev/v1"
  echo "kind: Workflow"
  echo "metadata: {name: overhead}"
  echo "spec:"
  echo "  steps:"
  if [ "${SHAPE:-steps}" = foreach ]; then
    echo "    - {name: each, foreach: [$(seq -s, 1 "$N")], command: $yaml_cmd}"
  else
    for i in $(seq "$N"); do echo "    - {name: s$i, command: $yaml_cmd}"; done
  fi
} >"$work/wf.yaml"
"$work/koya" apply -f "$work/wf.yaml" >/dev/null

# File system work left by earlier runs (writeback, discards) slows this
# VM's file creation for seconds: start from a quiet disk.
sync; sleep 15
t0=$(date +%s.%N)
"$work/koya" run overhead --follow >/dev/null
t1=$(date +%s.%N)
seq "$N" | xargs -P "$P" -I{} "${CMD[@]}"
t2=$(date +%s.%N)

python3 - "$N" "$P" "$t0" "$t1" "$t2" "${CMD[*]}" "${SHAPE:-steps}" <<'PY'
import sys
n, p, t0, t1, t2 = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:6])
koya, xargs = t1 - t0, t2 - t1
print(f"steps={n} parallelism={p} shape={sys.argv[7]} command={sys.argv[6]!r} koya={koya:.2f}s xargs={xargs:.2f}s ratio={koya / xargs:.2f}")
PY
