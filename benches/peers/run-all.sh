#!/usr/bin/env bash
# Regenerates the tables of benches/RESULTS.md: release build, data at each size, peers in their own venv.
#   benches/peers/run-all.sh [SIZES...]      (default: 1M 10M 100M)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(1M 10M 100M); fi

cargo build --release --workspace --bin vtsql   # --workspace: the same features as the tests build, no second DataFusion build
venv=target/peers-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r benches/peers/requirements.txt

for size in "${sizes[@]}"; do
    data="target/bench-data/$size"
    if [ ! -e "$data/current" ]; then
        /usr/bin/time -v target/release/vtsql --data "$data" generate --rows "$size" 2> "target/bench-data/generate-$size.log" \
            || { cat "target/bench-data/generate-$size.log"; exit 1; }
        grep -E "^generated|Maximum resident" "target/bench-data/generate-$size.log"
    fi
    "$venv/bin/python" benches/peers/run.py "$data" --runs 5 --markdown "target/bench-data/results-$size.md"
    # the same over files vtsql did not write (pyarrow's copy in $data/foreign, made on the first run)
    "$venv/bin/python" benches/peers/run.py "$data" --foreign --runs 5 --markdown "target/bench-data/results-$size-foreign.md"
done
