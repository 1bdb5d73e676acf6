#!/usr/bin/env bash
# Train the bundled default model (weights/noto2emojione.safetensors) on the emoji dataset.
#   python scripts/prepare_emoji_dataset.py data/emoji
#   bash scripts/train_default_model.sh data/emoji runs/noto2emojione [STEPS]
# On one H100 (fp32/TF32, batch 32) the default 4200 steps take about 8 minutes (launch-bound, ~9.6 it/s).
set -euo pipefail
data=${1:-data/emoji}; run=${2:-runs/noto2emojione}; steps=${3:-4200}
python -m gantrans train "$data" --arch cyclegan -o "$run" --domains noto,emojione \
  --size 64 --load-size 72 --ngf 32 --batch-size 32 --steps "$steps" \
  --workers 6 --device auto --precision fp32 --log-every 200 --sample-every 1000 --save-every 1000
