#!/usr/bin/env bash
# Task lists of any length (issue 15): `pff run` over N tasks from a `tasks_file` of one key a
# line, every key's `source_template` naming the same small sample record (so the times are
# nearly all per-task overhead: the tasks file read again on each pass, the task files, the
# final outputs). Needs only the repository (data/).
# Usage: benches/tasks.sh [workdir] [N...]   (default N: 10000 100000 1000000)
# Prints per N: wall seconds, per-task milliseconds, peak RSS (KB), output folder size.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-$(mktemp -d)}
shift $(( $# > 0 ? 1 : 0 ))
SIZES=("${@:-10000 100000 1000000}")
# shellcheck disable=SC2206
SIZES=(${SIZES[*]})
cargo build --release --quiet
PFF=$PWD/target/release/pff
REC=$PWD/data/records/CUST1005.json
RULES=$PWD/data/rules.txt
mkdir -p "$W"
for n in "${SIZES[@]}"; do
  python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range($n):
        f.write(f'55119{i:08}\n')
" "$W/keys-$n.txt"
  printf 'execution_id: tasks-%s\nrules: %s\nsource_template: %s\ntasks_file: keys-%s.txt\n' \
    "$n" "$RULES" "$REC" "$n" > "$W/m-$n.yaml"
  rm -rf "$W/out-$n"
  t0=$(date +%s%3N)
  /usr/bin/time -f "%e %M" -o "$W/time-$n" \
    "$PFF" run "$W/m-$n.yaml" -o "$W/out-$n" -q --max-workers 2 2> "$W/stderr-$n" || true
  read -r secs kb < <(tail -n 1 "$W/time-$n")
  size=$(du -sh "$W/out-$n" | cut -f1)
  # Phases from events.jsonl: load and prepare (until the start line), the tasks, the final
  # outputs (after the last task).
  phases=$(python3 - "$W/out-$n/events.jsonl" "$t0" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
t0 = int(sys.argv[2])
start = next(e["t_ms"] for e in ev if e["event"] == "start")
last = max(e["t_ms"] for e in ev if e["event"] in ("task_done", "task_failed"))
stop = next(e["t_ms"] for e in ev if e["event"] == "stop")
print(f"load+prepare {(start - t0) / 1000:.2f} s, tasks {(last - start) / 1000:.2f} s, final outputs {(stop - last) / 1000:.2f} s")
PY
)
  printf "%9s tasks  %8.2f s  %6.3f ms/task  %8s KB peak RSS  output %s  (%s)\n" \
    "$n" "$secs" "$(echo "$secs * 1000 / $n" | bc -l)" "$kb" "$size" "$phases"
  rm -rf "$W/out-$n"
done
