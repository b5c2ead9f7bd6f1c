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

# Start from a quiet disk. File system work left by earlier runs
# (writeback, discards) slows file creation for seconds; and on ext4
# without a journal (this VM's root) a new inode skips every inode
# deleted in the last one to six minutes whose inode table block is in
# the buffer cache, so that the deletions of an earlier run (or of
# anything else) made each file creation of this one cost ~0.25 ms of
# CPU. After a sync those blocks are clean: dropping the caches (when
# root) forgets them. koya's binary is read back in before timing.
sync
if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
cat "$work/koya" "$(type -P xargs)" "$(type -P "${CMD[0]}" || echo /dev/null)" >/dev/null
"$work/koya" get projects >/dev/null
sleep 15
# CPU seconds (user + system) of a process so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
server_cpu0=$(cpu "$(cat "$work/pid")")
t0=$(date +%s.%N)
"$work/koya" run overhead --follow >/dev/null
t1=$(date +%s.%N)
server_cpu=$(python3 -c "print(f'{$(cpu "$(cat "$work/pid")") - $server_cpu0:.2f}')")
host_pid=$(pgrep -f -- "--host $work/data/attempts" | head -1 || true)
host_cpu=$(if [ -n "$host_pid" ]; then cpu "$host_pid"; else echo 0; fi)
# The local backend deletes finished attempt directories in the
# background once it is idle: let it finish before xargs is timed.
for _ in $(seq 600); do
  [ -z "$(ls -A "$work/data/attempts/.trash" 2>/dev/null)" ] && break
  sleep 0.1
done
sleep 1
t1x=$(date +%s.%N)
seq "$N" | xargs -P "$P" -I{} "${CMD[@]}"
t2=$(date +%s.%N)

python3 - "$N" "$P" "$t0" "$t1" "$t1x" "$t2" "${CMD[*]}" "${SHAPE:-steps}" "$server_cpu" "$host_cpu" <<'PY'
import sys
n, p, t0, t1, t1x, t2 = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:7])
server_cpu, host_cpu = float(sys.argv[9]), float(sys.argv[10])
koya, xargs = t1 - t0, t2 - t1x
print(f"steps={n} parallelism={p} shape={sys.argv[8]} command={sys.argv[7]!r} koya={koya:.2f}s xargs={xargs:.2f}s ratio={koya / xargs:.2f} "
      f"cpu_per_step: server={1000 * server_cpu / n:.2f}ms agent_host={1000 * host_cpu / n:.2f}ms (the host's includes starting the commands)")
PY
