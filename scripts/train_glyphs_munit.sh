#!/usr/bin/env bash
# The bundled glyphs_munit (what weights/glyphs_munit.md reports): the GPU-trained MUNIT of commit 4b816f2
# (scripts/train_bundled_gpu.sh) fine-tuned on a CPU with guided_w=10 (example-guided triplets: the content of
# DejaVu c with the style of another glyph of font F should give F's c; trainB is grouped by font) for 2,000 steps,
# written as a bundle (fp16), fine-tuned again from that file for 1,000 steps (fresh discriminators), written the
# same way, and its style prior calibrated on the training glyphs (scripts/calibrate_munit_styles.py).
#   python scripts/prepare_glyph_dataset.py data/glyphs
#   bash scripts/train_glyphs_munit.sh [data/glyphs] [runs] [OUT.safetensors]
# A stopped run continues with `python -m gantrans train --resume RUNS/mu_guided[2]` (bit-identical); a finished
# stage is skipped. The learning rate is constant (1e-4), so stage 3's --steps 1000 is the first 1,000 steps of
# the 2,000-step run behind the bundle, stopped there by its declared end point.
set -euo pipefail
data=${1:-data/glyphs}; runs=${2:-runs}; out=${3:-weights/glyphs_munit.safetensors}
mkdir -p "$runs"
[ -f "$runs/glyphs_munit_gpu.safetensors" ] || git show 4b816f2:weights/glyphs_munit.safetensors > "$runs/glyphs_munit_gpu.safetensors"

. "$(dirname "$0")/train_stage.sh"
guided() {  # guided INIT RUN STEPS: one guided fine-tune stage
  train_stage "$2" "$data" --arch munit --domains dejavu,fonts --set input_nc=1 --set output_nc=1 --size 64 \
    --load-size 64 --batch-size 8 --precision bf16 --set guided_w=10 --init-from "$1" \
    --steps "$3" --save-every 200 --log-every 50 --sample-every 600 --workers 1
}
bundle() {  # bundle() RUN OUT STEPS_BEFORE: the run's model with the bundle's names, licence and provenance, fp16
  python scripts/write_bundle.py "$1/model.safetensors" "$2" --domains dejavu,fonts \
    --license "see weights/glyphs_munit.md (trained on renderings of OFL, GPL/AGPL-with-font-exception and GUST-licensed fonts)" \
    --steps-before "$3" --provenance '{"trained_by": "gantrans train", "model": "munit", "steps": null,
    "dataset": "data/glyphs (scripts/prepare_glyph_dataset.py)",
    "hardware": "1x H100 fp32 (2,100 steps at batch 64), then a 2-core CPU bf16 (two guided fine-tunes at batch 8: 2,000 + 1,000 steps)",
    "command": "bash scripts/train_bundled_gpu.sh 380 runs munit 64, then bash scripts/train_glyphs_munit.sh"}'
}
guided "$runs/glyphs_munit_gpu.safetensors" "$runs/mu_guided" 2000
bundle "$runs/mu_guided" "$runs/glyphs_munit_stage2.safetensors" 2100
guided "$runs/glyphs_munit_stage2.safetensors" "$runs/mu_guided2" 1000
bundle "$runs/mu_guided2" "$runs/glyphs_munit_stage3.safetensors" 4100
python scripts/calibrate_munit_styles.py "$runs/glyphs_munit_stage3.safetensors" "$out" --a2b "$data/trainB" --b2a "$data/trainA"
