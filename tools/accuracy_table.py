#!/usr/bin/env python3
"""Markdown tables for docs/ACCURACY.md from `imphmr eval --json` reports (stdlib only).

    python3 tools/accuracy_table.py "mean pose=mean.json" "trained=trained.json" [--metric pa_mpjpe]
    python3 tools/accuracy_table.py "L_reg=reg-s0.json,reg-s1.json,reg-s2.json" ...   # seeds

One row per label, one column per subset (all, unoccluded, occluded, front, side, back),
millimetres; with --metric all, MPJPE / PA-MPJPE / PVE in each cell. A label with several
reports (runs with different seeds) gets their mean, and PA-MPJPE the standard deviation
across them (± sd).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ORDER = ["all", "unoccluded", "occluded", "front", "side", "back"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", help="LABEL=report.json")
    ap.add_argument("--metric", default="all", choices=["all", "mpjpe", "pa_mpjpe", "pve"])
    args = ap.parse_args()
    rows = []
    for item in args.reports:
        label, _, paths = item.rpartition("=")
        reps = [{s["name"]: s for s in json.loads(Path(p).read_text())["subsets"]} for p in paths.split(",")]
        rows.append((label, {n: [r[n] for r in reps] for n in reps[0] if all(n in r for r in reps)}))
    names = [n for n in ORDER if any(n in r for _, r in rows)]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, subsets in rows:
        cells = []
        for n in names:
            runs = subsets.get(n)
            if runs is None:
                cells.append("")
                continue
            mean = {k: statistics.mean(r[k] for r in runs) for k in ("mpjpe", "pa_mpjpe", "pve")}
            pa = f"{mean['pa_mpjpe']:.1f}"
            if len(runs) > 1:
                pa += f" ± {statistics.stdev(r['pa_mpjpe'] for r in runs):.1f}"
            if args.metric == "all":
                cells.append(f"{mean['mpjpe']:.0f} / {pa} / {mean['pve']:.0f}")
            else:
                cells.append(pa if args.metric == "pa_mpjpe" else f"{mean[args.metric]:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
