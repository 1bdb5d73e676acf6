#!/usr/bin/env bash
# The bundled glyphs_munit (what weights/glyphs_munit.md reports): the GPU-trained MUNIT of commit 4b816f2
# (scripts/train_bundled_gpu.sh) fine-tuned on a CPU with guided_w=10 (example-guided triplets: the content of
# DejaVu c with the style of another glyph of font F should give F's c; trainB is grouped by font), then written
# with the bundle's names, licence and provenance in fp16.
#   python scripts/prepare_glyph_dataset.py data/glyphs
#   bash scripts/train_glyphs_munit.sh [data/glyphs] [runs] [OUT.safetensors]
# A stopped run continues with `python -m gantrans train --resume RUNS/mu_guided` (bit-identical).
set -euo pipefail
data=${1:-data/glyphs}; runs=${2:-runs}; out=${3:-weights/glyphs_munit.safetensors}
mkdir -p "$runs"
[ -f "$runs/glyphs_munit_gpu.safetensors" ] || git show 4b816f2:weights/glyphs_munit.safetensors > "$runs/glyphs_munit_gpu.safetensors"
python -m gantrans train "$data" --arch munit --domains dejavu,fonts --set input_nc=1 --set output_nc=1 --size 64 \
  --load-size 64 --batch-size 8 --precision bf16 --set guided_w=10 --init-from "$runs/glyphs_munit_gpu.safetensors" \
  -o "$runs/mu_guided" --steps 2000 --save-every 200 --log-every 50 --sample-every 600 --workers 1
python scripts/write_bundle.py "$runs/mu_guided/model.safetensors" "$out" --domains dejavu,fonts \
  --license "see weights/glyphs_munit.md (trained on renderings of OFL, GPL/AGPL-with-font-exception and GUST-licensed fonts)" \
  --steps-before 2100 --provenance '{"trained_by": "gantrans train", "model": "munit", "steps": null,
  "dataset": "data/glyphs (scripts/prepare_glyph_dataset.py)",
  "hardware": "1x H100 fp32 (2,100 steps at batch 64), then a 2-core CPU bf16 (guided fine-tune at batch 8)",
  "command": "bash scripts/train_bundled_gpu.sh 380 runs munit 64, then bash scripts/train_glyphs_munit.sh"}'
