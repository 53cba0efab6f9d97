#!/usr/bin/env bash
# Whole-graph rule statistics on the four knowledge graphs of ../shared/data/kg (issue 7),
# at 1 and 2 threads: wall seconds and peak RSS. Usage: benches/kg.sh [graphs...]
set -euo pipefail
cd "$(dirname "$0")/.."
S=$(cd ../shared/data/kg && pwd)
cargo build --release --quiet
out=$(mktemp -d)
for k in "${@:-nations umls wn18rr fb15k237}"; do
  for k1 in $k; do
    for t in 1 2; do
      /usr/bin/time -f "%e %M" -o "$out/time" ./target/release/pff validate "$S/$k1/train.txt" \
        --rules "$S/$k1/rules" --rule-stats "$out/$k1.stats" --counts-only --fail-on never \
        --max-workers "$t" -o /dev/null
      read -r secs kb < <(tail -n 1 "$out/time")
      printf "%-10s threads=%s  %8.2f s  %8d KB\n" "$k1" "$t" "$secs" "$kb"
    done
  done
done
echo "rule stats in $out"
