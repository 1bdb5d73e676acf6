#!/usr/bin/env bash
# The bundled default model (weights/noto2emojione.safetensors, card weights/noto2emojione.md), in two stages:
#  1. GPU: CycleGAN from scratch, 4,200 steps at batch 32 on 64x64 crops of 72x72 (411 s on one H100, fp32/TF32);
#     the bundle of commit e56e3e1. Taken from git when RUNS/n2e_gpu.safetensors is missing, unless STAGE1=train.
#  2. CPU: fine-tuned from stage 1 on whole 64x64 emoji (load 64: the framing of the held-out and example images),
#     lr 1e-4 (constant, then linear decay over the second half), 1,000 steps at batch 32, bf16 (~0.2 it/s on 2
#     cores, ~80 min); then written with the bundle's names, licence and provenance in fp16.
#   python scripts/prepare_emoji_dataset.py data/emoji
#   bash scripts/train_default_model.sh [data/emoji] [runs] [OUT.safetensors]
# A stopped stage-2 run continues with `python -m gantrans train --resume RUNS/n2e_ft` (bit-identical).
set -euo pipefail
data=${1:-data/emoji}; runs=${2:-runs}; out=${3:-weights/noto2emojione.safetensors}
mkdir -p "$runs"
if [ ! -f "$runs/n2e_gpu.safetensors" ]; then
  if [ "${STAGE1:-git}" = train ]; then
    python -m gantrans train "$data" --arch cyclegan -o "$runs/n2e_gpu" --domains noto,emojione \
      --size 64 --load-size 72 --ngf 32 --batch-size 32 --steps 4200 \
      --workers 6 --device auto --precision fp32 --log-every 200 --sample-every 1000 --save-every 1000
    cp "$runs/n2e_gpu/model.safetensors" "$runs/n2e_gpu.safetensors"
  else
    git show e56e3e1:weights/noto2emojione.safetensors > "$runs/n2e_gpu.safetensors"
  fi
fi
python -m gantrans train "$data" --arch cyclegan -o "$runs/n2e_ft" --init-from "$runs/n2e_gpu.safetensors" \
  --domains noto,emojione --size 64 --load-size 64 --ngf 32 --batch-size 32 --steps 1000 --lr 1e-4 \
  --precision bf16 --workers 1 --log-every 50 --save-every 250 --sample-every 250
python scripts/write_bundle.py "$runs/n2e_ft/model.safetensors" "$out" --domains noto,emojione --license CC-BY-SA-4.0 \
  --steps-before 4200 --provenance '{"trained_by": "gantrans train", "model": "cyclegan", "steps": null, "card": "weights/noto2emojione.md",
  "dataset": "Noto Color Emoji (fonts-noto-color-emoji 2.042, SIL OFL 1.1, Google) vs EmojiOne PNGs (ruby-gemojione 3.3.0, CC BY-SA 4.0, Ranks.com); scripts/prepare_emoji_dataset.py",
  "hardware": "1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 steps, ~80 min)",
  "command": "bash scripts/train_default_model.sh data/emoji runs"}'
