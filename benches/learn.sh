#!/usr/bin/env bash
# Learns rules for a mapping with `pff learn` on ../shared/data/tmf/train.jsonl (the settings of
# tmf/config-learn.properties, 2 threads) and runs the audit benchmark with them (issue 14).
# Needs AnyBURL (not shipped with pff): ANYBURL_JAR=path/to/AnyBURL-23-1.jar, Java 11+ on PATH.
# Usage: benches/learn.sh [MAPPING [SECONDS]]   (default: tmf 900)
# Writes the rule set target/tmf-ruleset-MAPPING (rules.txt and ruleset.json; the shipped
# benches/data/tmf-ruleset holds this script's rules of 2026-11, imported), keeps AnyBURL's work
# folder (log, snapshots) in target/learn-MAPPING, records cut points calibrated on
# records.jsonl in the rule set, and prints the audit figures with no option but --rules.
set -euo pipefail
cd "$(dirname "$0")/.."
mapping=${1:-tmf}
secs=${2:-900}
T=../shared/data/tmf
: "${ANYBURL_JAR:?set ANYBURL_JAR to AnyBURL-23-1.jar (e.g. from the PyClause repository)}"
cargo build --release --quiet
pff=./target/release/pff
work=target/learn-$mapping
set_dir=target/tmf-ruleset-$mapping
rm -rf "$work"
snaps=$(for s in 60 300 600; do if [ "$s" -lt "$secs" ]; then echo "$s"; fi; done | paste -sd, -)
/usr/bin/time -f "learn: %e s wall, %M KB peak RSS of pff" \
  "$pff" learn "$T/train.jsonl" -o "$set_dir" --force \
  --mapping "$mapping" --name-key charSpecExternalId --time "$secs" \
  ${snaps:+--snapshots "$snaps"} --threads 2 \
  --memory-limit 14G --work-dir "$work" \
  --set SAMPLE_SIZE=500 --set SAFE_PREFIX_MODE=false --set REWRITE_REFLEXIV=true \
  --set EXCLUDE_AC2_RULES=false --set POLICY=2 --set SCORING_REGIME=5 \
  --set RULE_AC2_WEIGHT=0.016 --set RULE_ZERO_WEIGHT=0.03
"$pff" calibrate "$T/records.jsonl" --rules "$set_dir" --max-workers 2
python3 benches/audit.py "$pff" --rules "$set_dir" --max-workers 2
