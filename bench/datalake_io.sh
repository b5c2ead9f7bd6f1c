#!/usr/bin/env bash
# Benchmark: datalake I/O. Pushes a file of SIZE_MIB (default 1024) MiB
# through a real `koya server` (encrypted at rest, objects in its data
# directory), pulls it back, and copies the same file with `cp` on the same
# disk; prints each throughput and koya's ratio to cp's (target >= 0.5).
#
#   bash bench/datalake_io.sh [SIZE_MIB]
#
# The push goes through the CLI as a user would: above 64 MiB, in 16 MiB
# resumable chunks. RESUMABLE_ABOVE=<bytes> changes that threshold (a large
# value sends one streaming PUT).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}

work=$(mktemp -d)
chmod 711 "$work" # the local backend wants its data directory traversable
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/koya" ./cmd/koya
export KOYA_CONFIG="$work/config.yaml" HOME="$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/koya" server --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
echo $! >"$work/pid"
for _ in $(seq 300); do "$work/koya" get projects >/dev/null 2>&1 && break; sleep 0.1; done
"$work/koya" get projects >/dev/null || { cat "$work/server.log"; exit 1; }
"$work/koya" data channel create bench >/dev/null

# Incompressible input, made before timing anything.
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/in.bin"
sync; sleep 2

t0=$(date +%s.%N)
"$work/koya" data push "$work/in.bin" --channel bench --resumable-above "${RESUMABLE_ABOVE:-67108864}" >/dev/null
t1=$(date +%s.%N)
"$work/koya" data pull in.bin "$work/out.bin" --channel bench >/dev/null
sync
t2=$(date +%s.%N)
cp "$work/in.bin" "$work/copy.bin"
sync
t3=$(date +%s.%N)
cmp -s "$work/in.bin" "$work/out.bin" || { echo "pulled bytes differ" >&2; exit 1; }

python3 - "$SIZE_MIB" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
mib, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:6])
push, pull, cp = t1 - t0, t2 - t1, t3 - t2
rate = lambda s: mib / s
print(f"size={mib}MiB push={push:.2f}s ({rate(push):.0f} MiB/s) pull={pull:.2f}s ({rate(pull):.0f} MiB/s) "
      f"cp={cp:.2f}s ({rate(cp):.0f} MiB/s) ratio_push={cp / push:.2f} ratio_pull={cp / pull:.2f}")
PY
