#!/usr/bin/env bash
# tract (imphmr bench) and onnxruntime (tools/bench_ort.py) on the same bundle, in the
# same run, alternating so that a noisy neighbour hurts both alike; then the machine's
# f32 GEMM rate from numpy. The figures in docs/PERFORMANCE.md come from this.
#
#   tools/perf_compare.sh [BUNDLE_DIR] [THREADS] [ITERS] [ROUNDS]
#   tools/perf_compare.sh models/generated/full 2 20 2
#
# Needs a release build (cargo build --release) and the Python tools' venv (.venv, see
# tools/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-models/small}
threads=${2:-$(nproc)}
iters=${3:-30}
rounds=${4:-2}
py=${PYTHON:-.venv/bin/python}
bin=target/release/imphmr
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 2; }

echo "== $(date -u +%FT%TZ) $bundle, $threads threads, $iters iterations x $rounds rounds"
echo "== $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for round in $(seq "$rounds"); do
    echo "== round $round: tract (imphmr bench)"
    "$bin" --threads "$threads" bench --model "$bundle" --iters "$iters" 2>/dev/null
    echo "== round $round: onnxruntime (tools/bench_ort.py)"
    "$py" tools/bench_ort.py --model "$bundle" --iters "$iters" --threads "$threads" 2>/dev/null
done
echo "== numpy f32 GEMM"
"$py" tools/bench_ort.py --gemm --threads "$threads" 2>/dev/null
