#!/usr/bin/env bash
# Remake models/trained (and its f16 / int8 versions) from nothing but the tools' venv:
#
#     bash tools/train_bundled.sh [FINAL_STEP]        # default 8606; resumes where it stopped
#
# The bundled model is `--preset medium` (small's field and head behind an encoder of width
# 32, two blocks per stage) with z and the regressor widened to 256 (4.1 M parameters),
# trained on this 2-core CPU at ~45–50 samples/s: about 4 h in all (docs/ACCURACY.md). The
# phases are its own history: medium as it was bundled before (runs/medium, 406 000
# samples), then widened (train.py --init-from: the same answers at the start) and
# trained on (runs/wide). Every phase checkpoints and resumes, so the script can be
# stopped and started again; it never runs in CI. Bit-exactness is not promised (threads
# reorder floating-point sums); most phases ended on wall time, so their steps are given.
# Its checkpoints (runs/) are git-ignored and do not outlive a machine: to train the
# committed bundle on instead, `tools/train.py --init-from models/trained` (fresh optimiser).
# The export packs the encoder's conv weights (docs/BUNDLE.md: int8 storage, f32
# arithmetic), which keeps the 15 MB f32 encoder at 4.6 MB in git.
set -euo pipefail
cd "$(dirname "$0")/.."
FINAL=${1:-8606}
PY=.venv/bin/python
C=(--data data/synth --out runs/medium --preset medium --batch 32 --input-size 128 --imag-views 1
   --box-jitter 0.15 --checkpoint-every 100 --eval-every 1000 --keep-every 1000 --workers 1 --threads 2)
step() { "$PY" -c "import torch; print(torch.load('runs/${1:-medium}/last.pt', weights_only=False)['step'])" 2>/dev/null || echo 0; }

[ -f data/synth/007999.json ] || "$PY" tools/synth.py --out data/synth --count 8000 --seed 1 --views 90,180,270
# 1: from scratch, all three losses, seed 0 (the capacity test of docs/ACCURACY.md).
[ "$(step)" -ge 2500 ] || "$PY" tools/train.py "${C[@]}" --resume --steps 2500 --lr 5e-4 --seed 0
# 2: the same step size on.
[ "$(step)" -ge 9439 ] || "$PY" tools/train.py "${C[@]}" --resume --steps 9439 --lr 5e-4
# 3: a smaller step (medium's bundle until the widening).
[ "$(step)" -ge 12689 ] || "$PY" tools/train.py "${C[@]}" --resume --steps 12689 --lr 1.5e-4
# 4–6: z 64 → 256 and the regressor 128 → 256, new inputs weighted 0; steps count afresh.
W=(--data data/synth --out runs/wide --preset medium --init-from runs/medium/last.pt --latent-dim 256
   --head-hidden 256 --name imphmr-medium-z256-anny --batch 32 --input-size 128 --imag-views 1 --box-jitter 0.15
   --checkpoint-every 100 --eval-every 500 --keep-every 1000 --workers 1 --threads 2 --resume)
[ "$(step wide)" -ge 5212 ] || "$PY" tools/train.py "${W[@]}" --steps 5212 --lr 5e-4 --warmup 200 --seed 2
[ "$(step wide)" -ge 7545 ] || "$PY" tools/train.py "${W[@]}" --steps 7545 --lr 1.5e-4
# The bundle is the last checkpoint, not the best on the held-out set.
"$PY" tools/train.py "${W[@]}" --steps "$FINAL" --lr 5e-5
"$PY" tools/export_bundle.py --checkpoint runs/wide/last.pt --out models/trained --goldens --pack-weights
"$PY" tools/quantize_bundle.py --in models/trained --precision f16 --out models/trained-f16
"$PY" tools/quantize_bundle.py --in models/trained --precision int8 --calib data/synth --out models/trained-int8
