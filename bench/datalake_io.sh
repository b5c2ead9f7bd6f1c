#!/usr/bin/env bash
# Benchmark: datalake I/O. Pushes a file of SIZE_MIB (default 1024) MiB
# through a real `koya server` (encrypted at rest, objects in its data
# directory), pulls it back, and copies the same file with `cp` on the same
# disk; prints each throughput and koya's ratio to cp's (target >= 0.5).
#
#   bash bench/datalake_io.sh [SIZE_MIB]
#
# Every step is timed until its bytes are on disk (`sync`), as cp's are:
# the push until the server's object is, the pull until the pulled file
# is. ROUNDS (default 3) rounds of cp, push, pull run in turn, after one
# that is not counted, each step after deleting what it wrote in the round
# before (the file in the channel, for the push), and the ratios are of
# the medians. On the 2-core VM, writing 1 GiB into page-cache pages the
# host has taken back (free page reporting) costs 2-3 s where recycled
# pages take 0.3 s: every step writes into the pages its own deletion just
# freed, and one round is not a measurement.
#
# The push goes through the CLI as a user would: above 64 MiB, through a
# resumable upload session, the file in one request that the server stores
# in 64 MiB parts. RESUMABLE_ABOVE=<bytes> changes that threshold (a large
# value sends one streaming PUT). cp_stored is a cp (cat) of the pushed
# object's parts as the push left them (written through the page cache,
# so mostly read from memory, as the pull reads them). PROFILE=<dir> writes CPU profiles of the server (server.prof) and
# of the last round's push (push.prof) and pull (pull.prof) there, for
# `go tool pprof`.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
ROUNDS=${ROUNDS:-3}

work=$(mktemp -d)
chmod 711 "$work" # the local backend wants its data directory traversable
stop() { # the server writes its profile on SIGTERM
	local pid
	pid=$(cat "$work/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
trap 'stop; rm -rf "$work"' EXIT
go build -o "$work/koya" ./cmd/koya
export KOYA_CONFIG="$work/config.yaml" HOME="$work"
prof() { if [ -n "${PROFILE:-}" ]; then echo "KOYA_CPUPROFILE=$PROFILE/$1.prof"; fi; }
if [ -n "${PROFILE:-}" ]; then mkdir -p "$PROFILE"; cp "$work/koya" "$PROFILE/koya"; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2046 # prof's output is one word or none
env $(prof server) "$work/koya" server --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
echo $! >"$work/pid"
for _ in $(seq 300); do "$work/koya" get projects >/dev/null 2>&1 && break; sleep 0.1; done
"$work/koya" get projects >/dev/null || { cat "$work/server.log"; exit 1; }
"$work/koya" data channel create bench >/dev/null

# Incompressible input, made before timing anything.
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/in.bin"
sync; sleep 2

now() { date +%s.%N; }
times=()
for round in $(seq 0 "$ROUNDS"); do
	rm -f "$work/copy.bin"; sync
	t0=$(now)
	cp "$work/in.bin" "$work/copy.bin"
	sync
	t1=$(now)

	"$work/koya" data rm in.bin --channel bench >/dev/null 2>&1 || true; sync
	t2=$(now)
	# shellcheck disable=SC2046
	env $(prof push) "$work/koya" data push "$work/in.bin" --channel bench --resumable-above "${RESUMABLE_ABOVE:-67108864}" >/dev/null
	sync
	t3=$(now)

	# cp of the stored bytes, as the push left them (its parts, written
	# through the page cache): what copying the pushed object costs
	# without decrypting, checking or a socket. Reported beside, not in,
	# the ratios.
	rm -f "$work/cold.bin"; sync
	t6=$(now)
	find "$work/data" -path '*/datalake/uploads/*/*' -type f -size +1M -print0 | sort -z | xargs -0 cat >"$work/cold.bin"
	sync
	t7=$(now)
	rm -f "$work/cold.bin"

	rm -f "$work/out.bin"; sync
	t4=$(now)
	# shellcheck disable=SC2046
	env $(prof pull) "$work/koya" data pull in.bin "$work/out.bin" --channel bench >/dev/null
	sync
	t5=$(now)
	cmp -s "$work/in.bin" "$work/out.bin" || { echo "pulled bytes differ" >&2; exit 1; }
	if [ "$round" -gt 0 ]; then times+=("$t0 $t1 $t2 $t3 $t4 $t5 $t6 $t7"); fi
done

python3 - "$SIZE_MIB" "${times[@]}" <<'PY'
import statistics, sys
mib = int(sys.argv[1])
rounds = [list(map(float, r.split())) for r in sys.argv[2:]]
rate = lambda s: mib / s
cps, pushes, pulls, colds = [], [], [], []
for i, (t0, t1, t2, t3, t4, t5, t6, t7) in enumerate(rounds, 1):
    cp, push, pull, cold = t1 - t0, t3 - t2, t5 - t4, t7 - t6
    cps.append(cp); pushes.append(push); pulls.append(pull); colds.append(cold)
    print(f"round {i}: cp={cp:.2f}s push={push:.2f}s pull={pull:.2f}s cp_stored={cold:.2f}s")
cp, push, pull, cold = (statistics.median(x) for x in (cps, pushes, pulls, colds))
print(f"size={mib}MiB median of {len(rounds)}: push={push:.2f}s ({rate(push):.0f} MiB/s) pull={pull:.2f}s ({rate(pull):.0f} MiB/s) "
      f"cp={cp:.2f}s ({rate(cp):.0f} MiB/s) ratio_push={cp / push:.2f} ratio_pull={cp / pull:.2f} "
      f"cp_stored={cold:.2f}s (pull vs it: {cold / pull:.2f})")
PY
