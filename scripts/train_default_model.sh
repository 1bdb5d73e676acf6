#!/usr/bin/env bash
# The bundled default model (weights/noto2emojione.safetensors, card weights/noto2emojione.md), in twelve stages (numbered as in benchmarks/RESULTS.md):
#  1. GPU: CycleGAN from scratch, 4,200 steps at batch 32 on 64x64 crops of 72x72 (411 s on one H100, fp32/TF32);
#     the bundle of commit e56e3e1. Taken from git when RUNS/n2e_gpu.safetensors is missing, unless STAGE1=train.
#  2. CPU: fine-tuned from stage 1 on whole 64x64 emoji (load 64: the framing of the held-out and example images),
#     lr 1e-4 (constant, then linear decay over the second half), 1,000 steps at batch 32, bf16; written with the
#     bundle's names, licence and provenance in fp16 (the bundle of commit 0fb84b1).
#  3. CPU: stage 2's generators given resize-convolution upsampling (scripts/resize_upsampling_init.py: the new
#     convolutions fitted by least squares to the transposed ones on 48 training images per domain), then
#     fine-tuned as stage 2 for 600 steps with --set upsample=resize. (The bundle's stage 3 started from the fit of
#     commit 1649c0b, which had a bug fixed in e581ddb: a rerun follows the recipe, not the file bit for bit.)
#  4. CPU: stage 3 fine-tuned for 400 more steps with the identity term 4x the default (lambda_identity 2.0:
#     weight 20 on L1(G_A(B), B) and L1(G_B(A), A)), lr 1e-4 constant for 200 steps then linear decay.
#  5. CPU: stage 4 fine-tuned for 300 more steps with lambda_identity 4.0 (weight 40).
#  6. CPU: stage 5 fine-tuned at batch 4 (1.6-1.8 it/s: ~7x the updates per CPU hour of batch 32) for 6,000 steps.
#  7. CPU: stage 6 fine-tuned at batch 4 with lambda_identity 8.0 (weight 80) for 3,000 steps.
#  8. GPU: stage 7's bundle fine-tuned at batch 32 for 900 steps (98 s on one H200; scripts/n2e_gpu_stage.sh, STEPS=900
#     as the bundled run got from its speed probe). Needs a GPU (DEVICE=cpu runs it, at ~0.2 it/s).
#  9. CPU: stage 8's bundle fine-tuned at batch 4 with lambda_identity 16.0 (weight 160) for 3,000 steps (33 min).
# 12. CPU: stage 9's bundle fine-tuned as stage 9 with --set ema=0.999 (the generators' moving average is the model;
#     21 min). Stages 10-11 were measured and not adopted (benchmarks/RESULTS.md).
# 13. CPU: stage 12's bundle fine-tuned as stage 12 (fresh averages) for 3,000 steps (20 min).
# 14. CPU: stage 13's bundle fine-tuned as stage 13 but on the training emoji *paired* by code point (DATA/pairs/A and
#     B: hard links to trainA and trainB) with --set lambda_paired=20 (L1 of each output to the true image of the
#     other set, weight 20), fp32 (the machine of that run had no bf16 instructions), 1,200 steps (~48 min at 0.42 it/s).
#   python scripts/prepare_emoji_dataset.py data/emoji
#   bash scripts/train_default_model.sh [data/emoji] [runs] [OUT.safetensors]
# Stages 2-5 run at ~0.2 it/s on 2 cores (about 80 + 50 + 35 + 21 min), stages 6-7 at 1.2-1.8 it/s (64 + 43 min). A stopped stage continues where it stopped (bit-identical)
# when the script is run again; a finished stage is skipped.
set -euo pipefail
data=${1:-data/emoji}; runs=${2:-runs}; out=${3:-weights/noto2emojione.safetensors}
mkdir -p "$runs"
. "$(dirname "$0")/train_stage.sh"
. "$(dirname "$0")/n2e_bundle.sh"  # bundle RUN OUT STEPS_BEFORE HARDWARE
if [ ! -f "$runs/n2e_gpu.safetensors" ]; then
  if [ "${STAGE1:-git}" = train ]; then
    train_stage "$runs/n2e_gpu" "$data" --arch cyclegan --domains noto,emojione \
      --size 64 --load-size 72 --ngf 32 --batch-size 32 --steps 4200 \
      --workers 6 --device auto --precision fp32 --log-every 200 --sample-every 1000 --save-every 1000
    cp "$runs/n2e_gpu/model.safetensors" "$runs/n2e_gpu.safetensors"
  else
    git show e56e3e1:weights/noto2emojione.safetensors > "$runs/n2e_gpu.safetensors"
  fi
fi
finetune() {  # finetune RUN INIT STEPS [--set ...]: one CPU stage on whole 64x64 emoji
  local run=$1 init=$2 steps=$3
  shift 3
  train_stage "$run" "$data" --arch cyclegan --init-from "$init" --domains noto,emojione --size 64 --load-size 64 \
    --ngf 32 --batch-size 32 --steps "$steps" --lr 1e-4 --precision bf16 --workers 1 --log-every 25 --save-every 200 "$@"
}
finetune "$runs/n2e_ft" "$runs/n2e_gpu.safetensors" 1000
[ -f "$runs/n2e_stage2.safetensors" ] || bundle "$runs/n2e_ft" "$runs/n2e_stage2.safetensors" 4200 \
  "1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 steps, ~80 min)"
[ -f "$runs/n2e_resize_init.safetensors" ] || python scripts/resize_upsampling_init.py "$runs/n2e_stage2.safetensors" \
  "$runs/n2e_resize_init.safetensors" --a "$data/trainA" --b "$data/trainB" --images 48
finetune "$runs/n2e_resize" "$runs/n2e_resize_init.safetensors" 600 --set upsample=resize
finetune "$runs/n2e_idt" "$runs/n2e_resize/model.safetensors" 400 --set upsample=resize --set lambda_identity=2.0
finetune "$runs/n2e_idt4" "$runs/n2e_idt/model.safetensors" 300 --set upsample=resize --set lambda_identity=4.0 --save-every 150
[ -f "$runs/n2e_stage5.safetensors" ] || bundle "$runs/n2e_idt4" "$runs/n2e_stage5.safetensors" 6200 \
  "1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 + 600 + 400 + 300 steps, ~180 min)"
# stage 6 starts from stage 5's fp16 bundle (as the bundled run did); later flags win: batch 4 in place of 32
finetune "$runs/n2e_bs4" "$runs/n2e_stage5.safetensors" 6000 --set upsample=resize --set lambda_identity=4.0 \
  --batch-size 4 --log-every 100 --save-every 500
finetune "$runs/n2e_bs4_id8" "$runs/n2e_bs4/model.safetensors" 3000 --set upsample=resize --set lambda_identity=8.0 \
  --batch-size 4 --log-every 100 --save-every 500
[ -f "$runs/n2e_stage7.safetensors" ] || bundle "$runs/n2e_bs4_id8" "$runs/n2e_stage7.safetensors" 12500 \
  "1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 + 600 + 400 + 300 steps at batch 32, then 6,000 + 3,000 at batch 4; ~320 min)"
[ -f "$runs/n2e_gpu8/finished" ] || { rm -rf "$runs/n2e_gpu8"; STEPS=${STEPS:-900} bash "$(dirname "$0")/n2e_gpu_stage.sh" 132 "$data" \
  "$runs/n2e_stage7.safetensors" "$runs/n2e_gpu8" "$runs/n2e_stage8.safetensors" && touch "$runs/n2e_gpu8/finished"; }
id16=(--set upsample=resize --set lambda_identity=16.0 --batch-size 4 --log-every 100 --save-every 500)  # stages 9, 12, 13
finetune "$runs/n2e_id16" "$runs/n2e_stage8.safetensors" 3000 "${id16[@]}"
h9="1x NVIDIA H100 80GB fp32 (4,200 steps, 411 s), then a 2-core CPU bf16 (1,000 + 600 + 400 + 300 steps at batch 32, then 6,000 + 3,000 at batch 4; ~320 min), then 1x NVIDIA H200 fp32 (900 steps at batch 32, 98 s), then a 2-core CPU bf16 (3,000 steps at batch 4, ~32 min)"
[ -f "$runs/n2e_stage9.safetensors" ] || bundle "$runs/n2e_id16" "$runs/n2e_stage9.safetensors" 16400 "$h9"
# stages 10 and 11 (lambda_identity 32; a compiled GPU stage) were measured and not adopted: stage 12 starts from stage 9
finetune "$runs/n2e_ema" "$runs/n2e_stage9.safetensors" 3000 "${id16[@]}" --set ema=0.999
[ -f "$runs/n2e_stage12.safetensors" ] || bundle "$runs/n2e_ema" "$runs/n2e_stage12.safetensors" 19400 \
  "$h9, then a 2-core CPU bf16 with EMA 0.999 (3,000 steps at batch 4, 21 min)"
finetune "$runs/n2e_ema2" "$runs/n2e_stage12.safetensors" 3000 "${id16[@]}" --set ema=0.999
[ -f "$runs/n2e_stage13.safetensors" ] || bundle "$runs/n2e_ema2" "$runs/n2e_stage13.safetensors" 22400 \
  "$h9, then a 2-core CPU bf16 with EMA 0.999 (3,000 + 3,000 steps at batch 4, 21 + 21 min)"
mkdir -p "$data/pairs"
for side in A B; do  # the training emoji paired by code point (same file names): the paired layout A/ + B/
  [ -d "$data/pairs/$side" ] || cp -al "$data/train$side" "$data/pairs/$side" 2>/dev/null \
    || { rm -rf "$data/pairs/$side"; cp -a "$data/train$side" "$data/pairs/$side"; }  # no hard links there: a copy
done
train_stage "$runs/n2e_paired" "$data/pairs" --arch cyclegan --init-from "$runs/n2e_stage13.safetensors" --domains noto,emojione \
  --size 64 --load-size 64 --ngf 32 --lr 1e-4 --precision fp32 --workers 1 --steps 1200 "${id16[@]}" \
  --log-every 50 --save-every 300 --set ema=0.999 --set lambda_paired=20
bundle "$runs/n2e_paired" "$out" 25400 "$h9, then a 2-core CPU bf16 with EMA 0.999 (3,000 + 3,000 steps at batch 4, 21 + 21 min), then a 2-core CPU fp32 on the emoji pairs (1,200 steps at batch 4, 48 min)"
