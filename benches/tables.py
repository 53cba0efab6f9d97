#!/usr/bin/env python3
"""Cell-level error detection on the public tables of ../shared/data/tables (issue 24).

For each table: the rows of dirty.csv as JSON Lines (a key `_row` naming each row, values
normalised as the tables' README says, empty cells left out, the first column being the row id),
rules learned by `pff learn` on them alone (with the options on the one line of
benches/tables.learn-options), the rows validated with pff's defaults, and the flagged cells
scored against clean.csv (and, by kind, which of the error cells were found: `kinds`). Also
checks that `pff validate dirty.csv` straight from the CSV gives
the same findings as the rows as JSON Lines.

A finding flags one cell: its record's row and the column it blames (a culprit's relation, else
the missing triple's). Usage:
  ANYBURL_JAR=... benches/tables.py [--pff target/release/pff] [--time 120] [--tables a,b]
      [--reuse]   (keep rules learned by an earlier run)
      [--options LINE] (learn options to try instead of benches/tables.learn-options)
      [--work DIR] (where rules and findings go; default target/tables)
      [--data DIR] (a folder of tables, one folder each with dirty.csv and clean.csv; default
                    ../shared/data/tables)
"""
import argparse
import csv
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data", "tables")


def norm(v):
    return re.sub(r"\s+", " ", html.unescape(v)).strip()


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def to_jsonl(header, rows, out):
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            rec = {"_row": r[0]}
            for h, v in zip(header[1:], r[1:]):
                v = norm(v)
                if v:
                    rec[h] = v
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def verbatim_jsonl(header, rows, out):
    """The rows as they are in the CSV (every column, values untouched, empty cells left out)."""
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({h: v for h, v in zip(header, r) if v}, ensure_ascii=False) + "\n")


def same_from_csv(a, csv_path, work, header, rows, rules_txt, learn_opts):
    """`pff validate dirty.csv` against the same rows as JSON Lines, with the rules file and the
    encoding flags of the options line (the rule set's own id key, `_row`, is not a column of
    the CSV): the findings, without their `line`, must be identical."""
    jl = os.path.join(work, "verbatim.jsonl")
    verbatim_jsonl(header, rows, jl)
    flags = [o for o in learn_opts if o in ("--one-graph", "--shapes", "--id-triples")]
    out = []
    for data in (csv_path, jl):
        p = subprocess.run([a.pff, "validate", data, "--rules", rules_txt, "--id-key", header[0],
                            "-f", "jsonl", "--keep", "info", "--fail-on", "never",
                            "--max-workers", "2"] + flags,
                           check=True, capture_output=True, text=True)
        found = []
        for line in p.stdout.splitlines():
            v = json.loads(line)
            v.pop("line", None)
            found.append(v)
        out.append(found)
    return out[0] == out[1], len(out[0])


def truth(dirty, clean):
    """Error cells (row id, column name) by position, after normalisation."""
    header, drows = dirty
    _, crows = clean
    cells = set()
    for d, c in zip(drows, crows):
        for j in range(1, len(header)):
            if norm(d[j]) != norm(c[j]):
                cells.add((d[0], header[j]))
    return cells


def shape(v):
    """pff's shape of a value (src/triples/mapping.rs::shape, without the brackets)."""
    out, last = [], None
    for c in v:
        if c.isascii() and c.isdigit():
            k = "9"
        elif c.isupper():
            k = "A"
        elif c.isalpha():
            k = "a"
        elif c.isspace():
            k = " "
        else:
            k = c
        if k in "aA " and k == last:
            continue
        out.append(k)
        last = k
    return "".join(out)


def kinds(dirty, clean):
    """Each error cell's kind: what a detector would need to see it.

    `column` (the dirty value is wrong in at least 95% of the column's rows: no row disagrees
    with another), `emptied` (empty in dirty, filled in clean), `filled` (the reverse),
    `format` (another shape than the clean value) or `value` (the same shape: a typo, a swap,
    a wrong number)."""
    header, drows = dirty
    _, crows = clean
    out = {}
    for j in range(1, len(header)):
        cells = [(d[0], norm(d[j]), norm(c[j])) for d, c in zip(drows, crows)]
        wrong = [(r, dv, cv) for r, dv, cv in cells if dv != cv]
        whole = len(wrong) >= 0.95 * len(cells)
        for r, dv, cv in wrong:
            if whole:
                k = "column"
            elif not dv:
                k = "emptied"
            elif not cv:
                k = "filled"
            elif shape(dv) != shape(cv):
                k = "format"
            else:
                k = "value"
            out[(r, header[j])] = k
    return out


def flagged(findings_path, levels):
    """(row, column) -> strongest score among findings at these levels."""
    cells = {}
    with open(findings_path, encoding="utf-8") as f:
        for line in f:
            v = json.loads(line)
            if v.get("severity") not in levels:
                continue
            t = v.get("culprit") or v["missing"]
            key = (v["record_name"], t["relation"])
            cells[key] = max(cells.get(key, 0.0), v["score"])
    return cells


def prf(flag, errors):
    tp = len(set(flag) & errors)
    p = tp / len(flag) if flag else 0.0
    r = tp / len(errors) if errors else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def run(cmd, **kw):
    print("$", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pff", default=os.path.join(ROOT, "target", "release", "pff"))
    ap.add_argument("--time", default="120")
    ap.add_argument("--tables", default="hospital,flights")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--options", help="a learn options line to try instead of the file's")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "tables"),
                    help="where each table's rules and findings go")
    ap.add_argument("--data", default=DATA,
                    help="a folder of tables, each a folder with dirty.csv and clean.csv")
    a = ap.parse_args()
    opts_file = os.path.join(ROOT, "benches", "tables.learn-options")
    learn_opts = []
    if a.options is not None:
        learn_opts = shlex.split(a.options)
    elif os.path.exists(opts_file):
        learn_opts = shlex.split(open(opts_file).read().strip())
    for t in a.tables.split(","):
        src = os.path.join(a.data, t)
        work = os.path.join(a.work, t)
        os.makedirs(work, exist_ok=True)
        dirty = read(os.path.join(src, "dirty.csv"))
        clean = read(os.path.join(src, "clean.csv"))
        jl = os.path.join(work, "dirty.jsonl")
        to_jsonl(*dirty, jl)
        # A rule set: it records `--id-key _row` (and any encoding option of the line), so
        # validation needs nothing but `--rules`.
        rules = os.path.join(work, "ruleset")
        if not (a.reuse and os.path.exists(rules)):
            shutil.rmtree(os.path.join(work, "learn"), ignore_errors=True)
            run([a.pff, "learn", jl, "-o", rules, "--force", "--id-key", "_row", "--time", a.time,
                 "--threads", "2", "-q", "--work-dir", os.path.join(work, "learn")]
                + learn_opts)
        out = os.path.join(work, "findings.jsonl")
        with open(out, "w") as f:
            run([a.pff, "validate", jl, "--rules", rules, "-f", "jsonl", "--fail-on", "never",
                 "--max-workers", "2"], stdout=f)
        errors = truth(dirty, clean)
        both = flagged(out, {"error", "warning"})
        only_err = flagged(out, {"error"})
        every = flagged(out, {"error", "warning", "info"})
        p, r, f1 = prf(both, errors)
        pe, re_, fe = prf(only_err, errors)
        best = (0.0, 0.0)
        for cut in sorted(set(every.values())):
            fl = {k for k, s in every.items() if s >= cut}
            best = max(best, (prf(fl, errors)[2], cut))
        pointed = len(set(every) & errors) / len(errors) if errors else 0.0
        same, n = same_from_csv(a, os.path.join(src, "dirty.csv"), work, dirty[0], dirty[1],
                                os.path.join(rules, "rules.txt"), learn_opts)
        print(f"{t}: dirty.csv straight == its rows as JSON Lines: {'yes' if same else 'NO'} "
              f"({n} findings at --keep info)")
        print(f"{t}: {len(errors)} error cells; error+warning P {p:.3f} R {r:.3f} F1 {f1:.3f} "
              f"({len(both)} flagged); error only P {pe:.2f} R {re_:.2f} F1 {fe:.2f} "
              f"({len(only_err)}); best F1 {best[0]:.2f} at score {best[1]:.3f}; error cells any "
              f"finding points at {pointed:.0%}")
        by_kind = kinds(dirty, clean)
        parts = []
        for k in ("value", "format", "emptied", "filled", "column"):
            cells = {c for c, kk in by_kind.items() if kk == k}
            if cells:
                parts.append(f"{k} {len(cells & set(both))}/{len(cells)}")
        print(f"{t}: error cells found at error+warning, by kind: {', '.join(parts)}")


if __name__ == "__main__":
    main()
