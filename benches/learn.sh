#!/usr/bin/env bash
# Learns rules for a mapping with `pff learn` on ../shared/data/tmf/train.jsonl (the settings of
# tmf/config-learn.properties, 2 threads) and runs the audit benchmark with them (issue 14).
# Needs AnyBURL (not shipped with pff): ANYBURL_JAR=path/to/AnyBURL-23-1.jar, Java 11+ on PATH.
# Usage: benches/learn.sh [MAPPING [SECONDS]]   (default: tmf 900)
# Writes benches/data/tmf-rules-MAPPING.txt (the committed one came from this script), keeps
# AnyBURL's work folder (log, snapshots) in target/learn-MAPPING, and prints the audit figures
# with cut points calibrated on train.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
mapping=${1:-tmf}
secs=${2:-900}
T=../shared/data/tmf
: "${ANYBURL_JAR:?set ANYBURL_JAR to AnyBURL-23-1.jar (e.g. from the PyClause repository)}"
cargo build --release --quiet
pff=./target/release/pff
work=target/learn-$mapping
rm -rf "$work"
snaps=$(for s in 60 300 600; do if [ "$s" -lt "$secs" ]; then echo "$s"; fi; done | paste -sd, -)
/usr/bin/time -f "learn: %e s wall, %M KB peak RSS of pff" \
  "$pff" learn "$T/train.jsonl" -o "benches/data/tmf-rules-$mapping.txt" --force \
  --mapping "$mapping" --name-key charSpecExternalId --time "$secs" \
  ${snaps:+--snapshots "$snaps"} --threads 2 \
  --memory-limit 14G --work-dir "$work" \
  --set SAMPLE_SIZE=500 --set SAFE_PREFIX_MODE=false --set REWRITE_REFLEXIV=true \
  --set EXCLUDE_AC2_RULES=false --set POLICY=2 --set SCORING_REGIME=5 \
  --set RULE_AC2_WEIGHT=0.016 --set RULE_ZERO_WEIGHT=0.03
cuts=$("$pff" calibrate "$T/train.jsonl" --rules "benches/data/tmf-rules-$mapping.txt" \
  --mapping "$mapping" --name-key charSpecExternalId --max-workers 2)
printf '%s\n' "$cuts"
e=$(sed -n 's/^error_confidence: //p' <<<"$cuts")
w=$(sed -n 's/^warning_confidence: //p' <<<"$cuts")
python3 benches/audit.py "$pff" --mapping "$mapping" --error-confidence "$e" \
  --warning-confidence "$w" --max-workers 2
