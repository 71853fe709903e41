#!/usr/bin/env bash
# The paper's claim in miniature (docs/ACCURACY.md): L_reg, L_reg + L_imag and all three
# losses, each from scratch with several seeds, side by side on one machine, compared at
# the same step. Meant for a GPU machine (it ran on a lent H100); on a CPU it works, slowly.
#
#     bash tools/ablation.sh OUT [MINUTES] [SEEDS]     # e.g. runs/ablation 5.5 "0 1 2"
#
# Makes the training set first when data/synth is missing (tools/synth.py --seed 1, the
# bundled model's, in one shard per core), times a lone run (samples/s, for the speed
# table), then starts every run at once, each stopping after MINUTES. Every run keeps
# OUT/VARIANT-sSEED/step-NNNNNN.pt every 500 steps; OUT/compare/ gets, per run, the
# snapshot at the largest step that every run reached: export each with
# tools/export_bundle.py --checkpoint and measure it with `imphmr eval`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/ablation.sh OUT [MINUTES] [SEEDS]}
MINUTES=${2:-5.5}
SEEDS=${3:-0 1 2}
PY=${PY:-python3}
CORES=$(nproc)
mkdir -p "$OUT"

if [ ! -f data/synth/007999.json ]; then
  echo "making data/synth (8000 images, seed 1) in $CORES shards" >&2
  per=$(( (8000 + CORES - 1) / CORES ))
  for ((s = 0; s < 8000; s += per)); do
    n=$(( s + per > 8000 ? 8000 - s : per ))
    "$PY" tools/synth.py --out data/synth --start "$s" --count "$n" --seed 1 --views 90,180,270 \
      >"$OUT/synth-$s.log" 2>&1 &
  done
  wait
  ls data/synth/*.json | wc -l >&2
fi
md5sum data/synth/000000.json data/synth/004321.json data/synth/007999.json >&2

# The settings of the bundled model's last phase (tools/train_bundled.sh), a larger batch.
COMMON=(--data data/synth --input-size 128 --lr 5e-4 --imag-views 1 --box-jitter 0.15 --threads 1
        --log-every 50 --eval-every "${KEEP:-500}" --checkpoint-every "${KEEP:-500}" --keep-every "${KEEP:-500}"
        --steps 1000000)

# A lone run first: the training speed with nothing beside it.
for b in 16 64; do
  "$PY" tools/train.py "${COMMON[@]}" --out "$OUT/speed-b$b" --batch "$b" --workers 4 --eval-every 100000 \
    --keep-every 0 --max-minutes 0.33 2>&1 | grep -E "training on|^saved" >&2
done

BATCH=${BATCH:-32}
for seed in $SEEDS; do
  for variant in reg imag all; do
    flags=()
    [ "$variant" = reg ] && flags=(--no-imag --no-cons)
    [ "$variant" = imag ] && flags=(--no-cons)
    "$PY" tools/train.py "${COMMON[@]}" "${flags[@]}" --out "$OUT/$variant-s$seed" --seed "$seed" \
      --batch "$BATCH" --workers 1 --max-minutes "$MINUTES" >"$OUT/$variant-s$seed.log" 2>&1 &
  done
done
wait
tail -n 2 "$OUT"/*-s*.log >&2

# The largest step every run kept, and each run's snapshot at it.
common=$(for d in "$OUT"/*-s*/; do ls "$d" | grep -o 'step-[0-9]*' | sort | tail -1 || echo none; done | sort | head -1)
echo "compared at $common" >&2
[ "$common" != none ] && [ -n "$common" ] || { echo "a run kept no snapshot: see $OUT/*.log" >&2; exit 1; }
mkdir -p "$OUT/compare"
for d in "$OUT"/*-s*/; do
  cp "$d/$common.pt" "$OUT/compare/$(basename "$d").pt"
done
