#!/usr/bin/env python3
"""Report quality on the workplace's audit set: where the planted errors rank.

Runs `pff validate tmf/audit.jsonl --rules RULES --format json` and, for every planted
corruption in tmf/audit-truth.jsonl, finds the first finding of its record whose missing triple
is one the corruption removed or whose focus is the corrupted node. Prints how many corruptions
rank first, in the first 3, 10 and 50, and the median number of error-level findings on the
clean records (tmf/records.jsonl).

Usage: benches/audit.py [path/to/pff] [--rules FILE|RULESET] [--mapping M] [--name-key K]
                        [--error-confidence E --warning-confidence W] [--max-workers N]
Without --rules: the shipped rule set benches/data/tmf-ruleset with no other option (it records
its encoding and cut points: the call a new user makes). With --mapping plain: tmf/rules-900
under the plain mapping, pff's defaults.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "..", "shared", "data", "tmf")
ap = argparse.ArgumentParser()
ap.add_argument("pff", nargs="?", default=os.path.join(here, "..", "target", "release", "pff"))
ap.add_argument("--mapping")
ap.add_argument("--name-key", help="the key naming a characteristic (nested mappings)")
ap.add_argument("--rules")
ap.add_argument("--error-confidence")
ap.add_argument("--warning-confidence")
ap.add_argument("--max-workers")
args = ap.parse_args()
pff = args.pff
if args.rules:
    rules = args.rules
elif args.mapping == "plain":
    rules = os.path.join(data, "rules-900")
else:
    rules = os.path.join(here, "data", "tmf-ruleset")
extra = []
if args.mapping:
    extra += ["--mapping", args.mapping]
if args.name_key:
    extra += ["--name-key", args.name_key]
for flag in ("error_confidence", "warning_confidence", "max_workers"):
    if getattr(args, flag) is not None:
        extra += ["--" + flag.replace("_", "-"), getattr(args, flag)]
print(f"rules {os.path.relpath(rules)}, options {' '.join(extra) or 'none'}")


def report(path):
    out = subprocess.run(
        [pff, "validate", path, "--rules", rules, "--format", "json", "--keep", "info",
         "--fail-on", "never"] + extra,
        check=True, capture_output=True).stdout
    return json.loads(out)["records"]


records = report(os.path.join(data, "audit.jsonl"))
ranks = []
by_kind = {}
# Per record: its planted errors' ranks (a record with k planted errors can have at most one
# first, and at best all k in its first k findings).
per_record = []
for line in open(os.path.join(data, "audit-truth.jsonl"), encoding="utf-8"):
    truth = json.loads(line)
    findings = records[truth["record"]]["findings"]
    mine = []
    per_record.append(mine)
    for c in truth["corruptions"]:
        removed = {tuple(t) for t in c["removed"]}
        # `node` is a list when a corruption changed several nodes.
        nodes = set(c["node"]) if isinstance(c["node"], list) else {c["node"]}
        rank = next((i for i, f in enumerate(findings)
                     if (f["missing"]["subject"], f["missing"]["relation"], f["missing"]["object"]) in removed
                     or f["focus"] in nodes), None)
        ranks.append(rank)
        mine.append(rank)
        by_kind.setdefault(c["kind"], []).append(rank)
n = len(ranks)
found = [r for r in ranks if r is not None]
for k in (1, 3, 10, 50):
    print(f"planted errors in the first {k:>2} findings: {sum(1 for r in found if r < k)} of {n}")
with_errors = [rs for rs in per_record if rs]
print(f"records whose first finding is a planted error: "
      f"{sum(1 for rs in with_errors if 0 in rs)} of {len(with_errors)} "
      f"({sum(1 for rs in with_errors if len(rs) > 1)} hold several; one finding is first, so "
      f"about {len(with_errors)} planted errors at most can rank first)")
print(f"planted errors in their record's first k findings (k = planted errors in it): "
      f"{sum(1 for rs in with_errors for r in rs if r is not None and r < len(rs))} of {n}")
print("in the first 10, by kind:")
for kind, rs in sorted(by_kind.items()):
    print(f"  {kind:<30} {sum(1 for r in rs if r is not None and r < 10):>3} of {len(rs)}")
clean = report(os.path.join(data, "records.jsonl"))
counts = [r["finding_counts"] for r in clean if "finding_counts" in r]
errors = [c["error"] for c in counts]
warned = [c["error"] + c["warning"] for c in counts]
print(f"clean records: median {statistics.median(errors)} error-level findings "
      f"(mean {statistics.mean(errors):.2f}, {len(errors)} records); median "
      f"{statistics.median(warned)} error+warning (mean {statistics.mean(warned):.2f})")
