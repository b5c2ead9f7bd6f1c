#!/usr/bin/env bash
# The demo: builds koya, starts the embedded control plane (SQLite and local
# files under a temporary directory, nothing to install), and runs the
# model-builder workflow with live step status, then shows the results.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/python-deps.sh
# The example steps run on Debian's python3, which has scikit-learn.
export PATH="/usr/bin:$PATH"

work=${KOYA_DEMO_DIR:-$(mktemp -d -t koya-demo-XXXX)}
mkdir -p "$work"
# As root, koya runs each step as an unprivileged user of its own: it
# passes through $work to its working directory, and reads the step
# scripts from a copy it may read (the checkout may be under /root).
chmod 711 "$work"
rm -rf "$work/steps" && cp -r "$root/examples/model-builder/steps" "$work/steps"
cp "$root/examples/datalake/steps/"*.py "$work/steps/" && chmod -R a+rX "$work/steps"
echo "== building koya"
CGO_ENABLED=0 go build -o "$work/koya" ./cmd/koya
koya() { "$work/koya" "$@"; }
export KOYA_CONFIG="$work/config.yaml" KOYA_KEK_FILE="$work/kek"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== starting the control plane on 127.0.0.1:$port (data in $work/data, log in $work/server.log)"
# The binary itself, not the koya function: $! must be the server's pid
# (a function in the background is a subshell, and killing that left the
# server running after the demo).
"$work/koya" server --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null && wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do koya get projects >/dev/null 2>&1 && break; sleep 0.1; done

echo "== applying examples/model-builder/workflow.yaml"
koya apply -f examples/model-builder/workflow.yaml

echo "== running build-model"
set +e
koya run build-model -p src="$work/steps" -p dataset=breast_cancer -p metric=roc_auc --follow | tee "$work/run.out"
status=${PIPESTATUS[0]}
set -e
run=$(koya get runs -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["metadata"]["name"])')
if [ "$status" != 0 ]; then
  echo "the run failed; its steps:" >&2
  koya describe run "$run" >&2
  exit "$status"
fi

echo
echo "== results (the evaluate step's report)"
koya logs "$run" --step evaluate

echo
echo "== artifacts"
mkdir -p "$work/artifacts"
for pair in report:report.json confusion:confusion_matrix.json importance:feature_importance.json best_model:best_model.pkl; do
  koya artifacts get "$run" evaluate "${pair%%:*}" -o "$work/artifacts/${pair#*:}" >/dev/null
done
ls -l "$work/artifacts"

echo
echo "== the datalake: tables with JSON metadata, and a trigger that profiles every new CSV"
koya data channel create tables --description "tabular data sets" >/dev/null
sed "s|/opt/koya/examples/datalake/steps|$work/steps|" examples/datalake/profile.yaml | koya apply -f -
mkdir -p "$work/tables"
cp "$work/artifacts/report.json" "$work/tables/report.json"
koya artifacts get "$run" register data -o "$work/tables/breast_cancer.csv" >/dev/null
echo '{"kind":"csv","dataset":"breast_cancer","source":"sklearn","rows":569}' >"$work/tables/breast_cancer.csv.json"
echo '{"kind":"report","dataset":"breast_cancer","metric":"roc_auc"}' >"$work/tables/report.json.json"
koya data push "$work/tables" --channel tables --prefix demo/
koya data ls --channel tables
echo
echo "== koya data find 'kind = \"csv\" and rows > 100'"
koya data find 'kind = "csv" and rows > 100' --columns dataset,rows
echo
echo "== koya data count --by kind"
koya data count --by kind
echo
echo "== the upload started a run of profile (trigger profile-new-tables)"
profile=""
for _ in $(seq 100); do
  profile=$(koya get runs --workflow profile -o json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["metadata"]["name"] if r else "")')
  [ -n "$profile" ] && break
  sleep 0.2
done
[ -n "$profile" ] || { echo "the trigger started no run" >&2; koya trigger status >&2; exit 1; }
for _ in $(seq 300); do
  phase=$(koya get run "$profile" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["phase"])')
  case "$phase" in Succeeded|Failed|Cancelled) break;; esac
  sleep 0.2
done
koya trigger status
echo
koya logs "$profile" --step profile
[ "$phase" = Succeeded ] || { koya describe run "$profile" >&2; exit 1; }

echo
echo "Artifacts are in $work/artifacts; the control plane's data (SQLite and objects) in $work/data."
echo "The demo's server stops now. To look around, start it again and ask it about run $run:"
echo "  export KOYA_CONFIG=$KOYA_CONFIG KOYA_KEK_FILE=$KOYA_KEK_FILE"
echo "  $work/koya server --addr 127.0.0.1:$port --data-dir $work/data &"
echo "  $work/koya describe run $run"
