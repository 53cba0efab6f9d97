#!/usr/bin/env bash
# Records behind an API (issue 15): the same N tasks (default 10,000; records cycled from
# ../shared/data/tmf/records.jsonl, one file each) run from files and from a local HTTP server
# (Python's threaded http.server on 127.0.0.1, sharing the machine), 2 workers, rules-900.
# Prints wall seconds and peak RSS of each run. Usage: benches/http.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
T=$(cd ../shared/data/tmf && pwd)
cargo build --release --quiet
pff=$PWD/target/release/pff
dir=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 - "$dir" "$n" "$T" <<'PY'
import os, sys
d, n, t = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l for l in open(os.path.join(t, "records.jsonl")) if l.strip()]
os.mkdir(os.path.join(d, "recs"))
head = f"execution_id: bench\nrules: {t}/rules-900\n"
with open(f"{d}/files.yaml", "w") as fa, open(f"{d}/http.yaml", "w") as fb:
    fa.write(head + "tasks:\n")
    fb.write(head + "source_template: http://127.0.0.1:8765/recs/{msisdn}.json\ntasks:\n")
    for i in range(n):
        k = str(5511900000000 + i)
        open(f"{d}/recs/{k}.json", "w").write(lines[i % len(lines)])
        fa.write(f"- msisdn: '{k}'\n  source: recs/{k}.json\n")
        fb.write(f"- msisdn: '{k}'\n")
PY
python3 -c "
import http.server, functools
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='$dir')
h.func.log_message = lambda *a: None
S(('127.0.0.1', 8765), h).serve_forever()
" &
server=$!
sleep 1
for kind in files http files http; do
  rm -rf "$dir/out"
  /usr/bin/time -f "$kind: %e s wall, %M KB peak RSS" "$pff" run "$dir/$kind.yaml" -q -o "$dir/out" \
    --max-workers 2 --fail-on never
done
