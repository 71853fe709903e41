#!/usr/bin/env python3
"""Markdown tables for docs/ACCURACY.md from `imphmr eval --json` reports (stdlib only).

    python3 tools/accuracy_table.py "mean pose=mean.json" "trained=trained.json" [--metric pa_mpjpe]

One row per report, one column per subset (all, unoccluded, occluded, front, side, back),
millimetres; with --metric all, MPJPE / PA-MPJPE / PVE in each cell.
"""
from __future__ import annotations

import argparse
import json
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
        label, _, path = item.rpartition("=")
        rep = json.loads(Path(path).read_text())
        rows.append((label, {s["name"]: s for s in rep["subsets"]}))
    names = [n for n in ORDER if any(n in r for _, r in rows)]
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, subsets in rows:
        cells = []
        for n in names:
            s = subsets.get(n)
            if s is None:
                cells.append("")
            elif args.metric == "all":
                cells.append(f"{s['mpjpe']:.0f} / {s['pa_mpjpe']:.1f} / {s['pve']:.0f}")
            else:
                cells.append(f"{s[args.metric]:.1f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
