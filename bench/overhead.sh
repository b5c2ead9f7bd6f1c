#!/usr/bin/env bash
# Benchmark (a): engine overhead. One workflow of N trivial steps (`true`) on
# the local backend, against `xargs -P P` running the same N commands, with the
# same parallelism P, measured in one run on this machine: ROUNDS (default 4)
# rounds of both, interleaved; prints each round's ratio and their median.
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

# Rounds: each runs the workflow once and xargs once, in alternate order
# (koya first in odd rounds, xargs first in even ones), so that the VM's
# drifts in speed over a minute (xargs alone varies by a third between
# runs on the benchmark VM) fall on both sides; the ratio reported is the
# median of the rounds' ratios. ROUNDS=1 is a single koya-then-xargs run.
ROUNDS=${ROUNDS:-4}
# The first round starts from a quiet disk. File system work left by
# earlier runs (writeback, discards) slows file creation for seconds; and
# on ext4 without a journal (this VM's root) a new inode skips every inode
# deleted in the last one to six minutes whose inode table block is in
# the buffer cache, so that the deletions of an earlier run (or of
# anything else) made each file creation of this one cost ~0.25 ms of
# CPU. After a sync those blocks are clean: dropping the caches (when
# root) forgets them. koya's binary is read back in before timing. Later
# rounds delete nothing (the local backend keeps finished attempts'
# directories for an hour), and dropping the caches again would only
# make the server read its database back from the disk, as no running
# server does: they sync and wait.
quiet() {
  sync
  if [ "$1" = 1 ] && [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
  cat "$work/koya" "$(type -P xargs)" "$(type -P "${CMD[0]}" || echo /dev/null)" >/dev/null
  "$work/koya" get projects >/dev/null
  sleep 15
}
# CPU seconds (user + system) of a process so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
host_pid() { pgrep -f -- "--host $work/data/attempts" | head -1 || true; }
now() { date +%s.%N; }
run_koya() {
  local host0 server0 t0 host
  host=$(host_pid)
  host0=$(if [ -n "$host" ]; then cpu "$host"; else echo 0; fi)
  server0=$(cpu "$(cat "$work/pid")")
  t0=$(now)
  "$work/koya" run overhead --follow >/dev/null
  koya_s=$(python3 -c "print($(now) - $t0)")
  server_cpu=$(python3 -c "print($(cpu "$(cat "$work/pid")") - $server0)")
  host=$(host_pid) # started by the first run
  host_cpu=$(python3 -c "print($(if [ -n "$host" ]; then cpu "$host"; else echo 0; fi) - $host0)")
  # Should the local backend be deleting attempt directories (its agent
  # host's sweep, or a trash), let it finish before xargs is timed.
  for _ in $(seq 600); do
    [ -z "$(ls -A "$work/data/attempts/.trash" 2>/dev/null)" ] && break
    sleep 0.1
  done
  sleep 1
}
run_xargs() {
  local t0
  t0=$(now)
  seq "$N" | xargs -P "$P" -I{} "${CMD[@]}"
  xargs_s=$(python3 -c "print($(now) - $t0)")
}
rounds=()
for round in $(seq "$ROUNDS"); do
  quiet "$round"
  if [ $((round % 2)) = 1 ]; then run_koya; run_xargs; else run_xargs; run_koya; fi
  rounds+=("$koya_s $xargs_s $server_cpu $host_cpu")
done

python3 - "$N" "$P" "${CMD[*]}" "${SHAPE:-steps}" "${rounds[@]}" <<'PY'
import statistics, sys
n, p, cmd, shape = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ratios = []
for i, r in enumerate(sys.argv[5:], 1):
    koya, xargs, server_cpu, host_cpu = map(float, r.split())
    ratios.append(koya / xargs)
    print(f"round {i} ({'koya first' if i % 2 else 'xargs first'}): koya={koya:.2f}s xargs={xargs:.2f}s ratio={koya / xargs:.2f} "
          f"cpu_per_step: server={1000 * server_cpu / n:.2f}ms agent_host={1000 * host_cpu / n:.2f}ms")
print(f"steps={n} parallelism={p} shape={shape} command={cmd!r} rounds={len(ratios)} "
      f"ratios={' '.join(f'{r:.2f}' for r in ratios)} ratio={statistics.median(ratios):.2f} (median; the host's CPU includes starting the commands)")
PY
