#!/usr/bin/env bash
# The bundled person_emoji_stargan (what weights/person_emoji_stargan.md reports): the GPU-trained StarGAN of
# commit 85fd432 (scripts/train_bundled_gpu.sh, then a fine-tune) fine-tuned on a CPU into the attention
# variant (GANimation head; --init-from names the new head, which starts from its initial values), then
# written with the bundle's names, licence and provenance in fp16.
#   python scripts/prepare_person_emoji_dataset.py data/person_emoji
#   bash scripts/train_person_emoji_stargan.sh [data/person_emoji] [runs] [OUT.safetensors]
# A stopped run continues with `python -m gantrans train --resume RUNS/sg_attn` (bit-identical).
set -euo pipefail
data=${1:-data/person_emoji}; runs=${2:-runs}; out=${3:-weights/person_emoji_stargan.safetensors}
mkdir -p "$runs"
groups=$(python -c "import json, sys; g = json.load(open(sys.argv[1])); print(' '.join(f'--group {k}=' + ','.join(v) for k, v in g.items()))" "$data/groups.json")
[ -f "$runs/person_emoji_stargan_gpu.safetensors" ] || git show 85fd432:weights/person_emoji_stargan.safetensors > "$runs/person_emoji_stargan_gpu.safetensors"
python -m gantrans train "$data/train" --arch stargan $groups --size 64 --batch-size 16 --set d_repeat_num=5 \
  --set attention=true --set lambda_mask=0.01 --precision bf16 --init-from "$runs/person_emoji_stargan_gpu.safetensors" \
  -o "$runs/sg_attn" --steps 9000 --save-every 1000 --log-every 100 --sample-every 1000
python scripts/write_bundle.py "$runs/sg_attn/model.safetensors" "$out" --domains noto_person_emoji --license OFL-1.1 \
  --dataset-name noto_person_emoji --steps-before 27200 --provenance '{"trained_by": "gantrans train", "model": "stargan",
  "batch_size": 16, "steps": null, "dataset": "data/person_emoji/train (scripts/prepare_person_emoji_dataset.py)",
  "hardware": "1x H100 fp32 (27,200 steps), then a 2-core CPU bf16 (9,000 steps)",
  "schedule": "11200 steps (scripts/train_bundled_gpu.sh 420 runs both), 16000 steps fine-tuned with --init-from, then 9000 steps fine-tuned into attention=true (scripts/train_person_emoji_stargan.sh), each with linear decay over its second half"}'
