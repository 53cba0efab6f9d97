#!/usr/bin/env python3
"""Start-up of `pff validate` with a large rule set: rules read as text every time
(`--no-cache`), the first call that compiles them into the cache, and later calls that open
the compiled set (issue 23). Whole-process wall time, median of N runs, release build.

    python3 benches/compiled.py [--runs N] [--rules FILE] [--data FILE]

Defaults: ../shared/data/pff/rules-1200 (149,790 rules) on ../shared/data/pff/test.json, and
the same call with the 60 sample rules (data/rules.txt) for scale. The cache is a fresh
temporary folder (PFF_CACHE_DIR); nothing outside it is written.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data", "pff")


def run(cmd, env):
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.decode()[-400:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rules", default=os.path.join(SHARED, "rules-1200"))
    ap.add_argument("--data", default=os.path.join(SHARED, "test.json"))
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    pff = os.path.join(ROOT, "target", "release", "pff")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PFF_CACHE_DIR=cache)
        base = [pff, "validate", a.data, "-f", "json", "-o", os.devnull, "--rules"]
        small = [run(base + [os.path.join(ROOT, "data", "rules.txt")], env) for _ in range(a.runs)]
        text = [run(base + [a.rules, "--no-cache"], env) for _ in range(a.runs)]
        first = run(base + [a.rules], env)
        warm = [run(base + [a.rules], env) for _ in range(a.runs)]
    ms = lambda xs: f"{1000 * statistics.median(xs):.0f} ms"
    print(f"sample rules (60):       {ms(small)}")
    print(f"{os.path.basename(a.rules)} as text:     {ms(text)}")
    print(f"{os.path.basename(a.rules)} first call:  {1000 * first:.0f} ms (compiles)")
    print(f"{os.path.basename(a.rules)} compiled:    {ms(warm)}")


if __name__ == "__main__":
    main()
