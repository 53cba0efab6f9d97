#!/usr/bin/env bash
# Peak RSS and throughput of `pff run` as rules and records grow (issues 3 and 5).
# Needs ../shared/data (the workplace's benchmark data).
# Usage: benches/rss.sh [workdir] [rules|filler|tasks|all] [extra pff run arguments...]
# Prints one line per case: rules, tasks, wall seconds, peak RSS (KB), tasks/s, and the most
# tasks in flight and rule chunks held that the run's events.jsonl records.
set -euo pipefail
cd "$(dirname "$0")/.."
S=$(cd ../shared/data && pwd)
W=${1:-$(mktemp -d)}
CASES=${2:-all}
shift $(( $# > 2 ? 2 : $# ))
EXTRA=("$@")
cargo build --release --quiet
PFF=$PWD/target/release/pff

mkdir -p "$W/records"
# Task files: 100 TM Forum records (tmf/records.jsonl), one file each, reused under many task
# names so that every case sees the same records.
python3 - "$S/tmf/records.jsonl" "$W/records" <<'PY'
import sys, os
src, out = sys.argv[1], sys.argv[2]
for i, line in enumerate(open(src, encoding="utf-8")):
    with open(os.path.join(out, f"r{i}.json"), "w", encoding="utf-8") as f:
        f.write(line)
PY
# Rule files of 10k, 100k and 1M lines from the predecessor's 149,790 rules (repeated lines are
# distinct rules to pff: each has its own line).
head -n 10000 "$S/pff/rules-1200" > "$W/rules-10k"
head -n 100000 "$S/pff/rules-1200" > "$W/rules-100k"
: > "$W/rules-1m"
while [ "$(wc -l < "$W/rules-1m")" -lt 1000000 ]; do cat "$S/pff/rules-1200" >> "$W/rules-1m"; done
head -n 1000000 "$W/rules-1m" > "$W/rules-1m.tmp" && mv "$W/rules-1m.tmp" "$W/rules-1m"
cp "$S/tmf/rules-900" "$W/rules-tmf"
# The same 10k rules plus rules that cannot apply to the records (the predecessor's rules with
# every relation renamed): the rule count grows, the work each record needs does not.
python3 - "$S/pff/rules-1200" "$W" <<'PY'
import re, sys
src, w = sys.argv[1], sys.argv[2]
atom = re.compile(r'(^|<= |, )([^(,]+)\(')
lines = open(src, encoding="utf-8").read().splitlines()
head = lines[:10000]
def filler(n):
    out = []
    k = 0
    while len(out) < n:
        for line in lines:
            p, c, conf, text = line.split("\t", 3)
            out.append("\t".join([p, c, conf, atom.sub(lambda m: f"{m.group(1)}zz{k}_{m.group(2)}(", text)]))
            if len(out) == n:
                break
        k += 1
    return out
for name, n in [("fill-100k", 100000), ("fill-1m", 1000000)]:
    with open(f"{w}/{name}", "w", encoding="utf-8") as f:
        f.write("\n".join(head + filler(n - len(head))) + "\n")
PY

manifest() { # tasks rules
  local n=$1 rules=$2 m="$W/m-$1-$(basename "$2").yaml"
  { echo "execution_id: bench"; echo "rules: $rules"; echo "tasks:"
    for ((i = 0; i < n; i++)); do echo "- msisdn: t$i"; echo "  source: $W/records/r$((i % 100)).json"; done
  } > "$m"
  echo "$m"
}

run() { # tasks rules
  local m; m=$(manifest "$1" "$2")
  rm -rf "$W/out"
  local t0 t1; t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$W/rss.full" "$PFF" run "$m" -q -o "$W/out" "${EXTRA[@]}" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  local secs; secs=$(echo "$t1 - $t0" | bc)
  # The bounds the run kept: tasks admitted and not yet written, chunks of rules held.
  local stop; stop=$(tail -n 1 "$W/out/events.jsonl")
  local inflight chunks
  inflight=$(echo "$stop" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("max_in_flight"))')
  chunks=$(echo "$stop" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("max_rule_batches"))')
  printf "%-12s %7s tasks  %7.2f s  %8s KB  %8.1f tasks/s  in flight <= %s, rule chunks <= %s\n" "$(basename "$2")" "$1" "$secs" "$(tail -n 1 "$W/rss.full")" "$(echo "$1 / $secs" | bc -l)" "$inflight" "$chunks"
}

echo "threads: $(nproc)"
if [ "$CASES" = all ] || [ "$CASES" = rules ]; then
  for r in rules-10k rules-100k rules-1m; do run 100 "$W/$r"; done
fi
if [ "$CASES" = all ] || [ "$CASES" = filler ]; then
  for r in rules-10k fill-100k fill-1m; do run 100 "$W/$r"; done
fi
if [ "$CASES" = all ] || [ "$CASES" = tasks ]; then
  for n in 100 1000 10000; do run "$n" "$W/rules-tmf"; done
  run 10000 "$S/pff/rules-1200"
fi
