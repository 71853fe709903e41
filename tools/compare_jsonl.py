#!/usr/bin/env python3
"""Compare the numbers of two `imphmr infer` outputs (JSON lines) line by line.

    python3 tools/compare_jsonl.py x86.jsonl aarch64.jsonl [--tol 1e-4]

Compares theta, betas, cam and box; exits 1 naming the first field over tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys

KEYS = ("theta", "betas", "cam", "box")


def flat(v):
    if isinstance(v, list):
        for x in v:
            yield from flat(x)
    else:
        yield float(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    la = [json.loads(l) for l in open(args.a) if l.strip()]
    lb = [json.loads(l) for l in open(args.b) if l.strip()]
    if len(la) != len(lb) or not la:
        sys.exit(f"FAIL: {len(la)} lines in {args.a}, {len(lb)} in {args.b}")
    worst = 0.0
    for i, (x, y) in enumerate(zip(la, lb)):
        for k in KEYS:
            a, b = list(flat(x[k])), list(flat(y[k]))
            if len(a) != len(b):
                sys.exit(f"FAIL: line {i + 1} {k}: {len(a)} vs {len(b)} values")
            err = max((abs(p - q) for p, q in zip(a, b)), default=0.0)
            worst = max(worst, err)
            if err > args.tol:
                sys.exit(f"FAIL: line {i + 1} ({x.get('file')}) {k} differs by {err:.3e} > {args.tol:.0e}")
    print(f"OK: {len(la)} results agree, max |diff| {worst:.2e} (tolerance {args.tol:.0e})")


if __name__ == "__main__":
    main()
