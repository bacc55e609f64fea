#!/usr/bin/env bash
# The benchmark suite on a Ballista cluster on loopback (a scheduler and two executors) and in-process:
# compares every answer, then times both (median of RUNS after a warm-up).
#   benches/cluster/run.sh DATA_DIR [RUNS]        (VTSQL=path/to/vtsql, default target/release/vtsql)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:?usage: benches/cluster/run.sh DATA_DIR [RUNS]}
runs=${2:-5}
vtsql=${VTSQL:-target/release/vtsql}
[ -x "$vtsql" ] || cargo build --release --bin vtsql
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The scheduler prints its address first; each executor prints a line once it has joined.
"$vtsql" cluster scheduler --bind 127.0.0.1:0 > "$work/scheduler.out" 2> "$work/scheduler.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/scheduler.out" ] && break; sleep 0.1; done
scheduler=$(head -1 "$work/scheduler.out")
[ -n "$scheduler" ] || { cat "$work/scheduler.log"; exit 1; }
for i in 1 2; do
    "$vtsql" cluster executor --scheduler "$scheduler" --port "$(free_port)" --grpc-port "$(free_port)" \
        --work-dir "$work" > "$work/executor$i.out" 2> "$work/executor$i.log" &
    pids+=($!)
done
for _ in $(seq 300); do
    [ "$(cat "$work"/executor*.out 2>/dev/null | grep -c joined)" = 2 ] && break
    sleep 0.1
done
echo "cluster: scheduler $scheduler, $(grep -c joined "$work"/executor*.out | paste -sd' ') executors joined" >&2

# Same answers: every suite query, with vtsql's functions and in plain SQL, as CSV from both.
same=0
for file in benches/queries/*.sql; do
    "$vtsql" --data "$data" --format csv -f "$file" > "$work/local.csv"
    "$vtsql" --data "$data" --cluster "$scheduler" --format csv -f "$file" > "$work/cluster.csv"
    if cmp -s "$work/local.csv" "$work/cluster.csv"; then
        same=$((same + 1))
    else
        echo "DIFFERENT: $file" >&2
        diff "$work/local.csv" "$work/cluster.csv" | head -10 >&2
        exit 1
    fi
done
echo "same answers: $same of $(ls benches/queries/*.sql | wc -l) query files" >&2

"$vtsql" --data "$data" bench --runs "$runs" > "$work/local.json"
"$vtsql" --data "$data" --cluster "$scheduler" bench --runs "$runs" > "$work/cluster.json"
for pid in "${pids[@]}"; do
    grep -h VmHWM "/proc/$pid/status" 2>/dev/null | awk -v p="$pid" '{printf "peak RSS of cluster process %s: %d MiB\n", p, $2/1024}' >&2
done
python3 - "$work/local.json" "$work/cluster.json" "$data" <<'PY'
import json, sys
local = {r["query"]: r for r in map(json.loads, open(sys.argv[1]))}
cluster = {r["query"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"data: {sys.argv[3]}; cluster: 1 scheduler + 2 executors on loopback, same machine")
print("| query | rows | in-process ms | cluster ms | cluster / in-process |")
print("|---|---|---|---|---|")
for q, l in local.items():
    c = cluster[q]
    print(f"| {q} | {l['rows']} | {l['median_ms']:.1f} | {c['median_ms']:.1f} | {c['median_ms'] / l['median_ms']:.2f} |")
PY
