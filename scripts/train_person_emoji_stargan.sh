#!/usr/bin/env bash
# The bundled person_emoji_stargan (what weights/person_emoji_stargan.md reports), every CPU stage after the GPU:
#   1. sg_attn: the GPU-trained StarGAN of commit 85fd432 (scripts/train_bundled_gpu.sh, then a fine-tune) fine-tuned
#      into the attention variant (GANimation head; --init-from names the new head, which starts from its initial
#      values), written in fp16 as RUNS/person_emoji_stargan_attn.safetensors (the bundle of commit 72a21aa, which is
#      the file stage 2 started from: `git show 72a21aa:weights/person_emoji_stargan.safetensors` there skips stage 1);
#   2. sg_warm: a critic-only DiffAugment warm-up (n_critic beyond the run: G is never updated), lambda_cls 4;
#   3. sg_long: generator and critic, DiffAugment, the official lambda_cls 1;  4. sg_long2: the same at LR 2e-5;
#   5. sg_id: the identity term lambda_id 10 (edits leave alone what they were not asked to change); 6. sg_id2: lambda_id 20;
# then the bundle's names, licence and provenance, fp16.
#   python scripts/prepare_person_emoji_dataset.py data/person_emoji
#   bash scripts/train_person_emoji_stargan.sh [data/person_emoji] [runs] [OUT.safetensors]
# Rerunning the script skips finished stages and resumes a stopped one (bit-identical).
set -euo pipefail
data=${1:-data/person_emoji}; runs=${2:-runs}; out=${3:-weights/person_emoji_stargan.safetensors}
mkdir -p "$runs"
groups=$(python -c "import json, sys; g = json.load(open(sys.argv[1])); print(' '.join(f'--group {k}=' + ','.join(v) for k, v in g.items()))" "$data/groups.json")
common="--arch stargan $groups --size 64 --batch-size 16 --set d_repeat_num=5 --set attention=true --set lambda_mask=0.01 --precision bf16"

. "$(dirname "$0")/train_stage.sh"
# shellcheck disable=SC2086
stage() { local name=$1; shift; train_stage "$runs/$name" "$data/train" $common "$@"; }  # stage NAME ARGS...: RUNS/NAME

attn="$runs/person_emoji_stargan_attn.safetensors"
if [ ! -f "$attn" ]; then
  [ -f "$runs/person_emoji_stargan_gpu.safetensors" ] || git show 85fd432:weights/person_emoji_stargan.safetensors > "$runs/person_emoji_stargan_gpu.safetensors"
  stage sg_attn --init-from "$runs/person_emoji_stargan_gpu.safetensors" --steps 9000 --save-every 1000 --log-every 100 --sample-every 1000
  python scripts/write_bundle.py "$runs/sg_attn/model.safetensors" "$attn" --domains noto_person_emoji --license OFL-1.1 \
  --dataset-name noto_person_emoji --steps-before 27200 --provenance '{"trained_by": "gantrans train", "model": "stargan",
  "batch_size": 16, "steps": null, "dataset": "data/person_emoji/train (scripts/prepare_person_emoji_dataset.py)",
  "hardware": "1x H100 fp32 (27,200 steps), then a 2-core CPU bf16 (9,000 steps)",
  "schedule": "11200 steps (scripts/train_bundled_gpu.sh 420 runs both), 16000 steps fine-tuned with --init-from, then 9000 steps fine-tuned into attention=true (scripts/train_person_emoji_stargan.sh), each with linear decay over its second half"}'
fi
da="--set diffaugment=translation,cutout"  # the intervals below are those of the runs behind the bundle
# shellcheck disable=SC2086
{
  stage sg_warm $da --set lambda_cls=4 --set n_critic=1000000 --init-from "$attn" --steps 1000 --save-every 500 --log-every 50 --sample-every 1000
  stage sg_long $da --init-from "$runs/sg_warm/model.safetensors" --steps 3000 --save-every 1000 --log-every 100 --sample-every 1000
  stage sg_long2 $da --init-from "$runs/sg_long/model.safetensors" --lr 2e-5 --steps 1500 --save-every 500 --log-every 100 --sample-every 1500
  stage sg_id $da --set lambda_id=10 --init-from "$runs/sg_long2/model.safetensors" --steps 3000 --save-every 500 --log-every 100 --sample-every 1000
  stage sg_id2 $da --set lambda_id=20 --init-from "$runs/sg_id/model.safetensors" --steps 2000 --save-every 500 --log-every 100 --sample-every 1000
}
python scripts/write_bundle.py "$runs/sg_id2/model.safetensors" "$out" --domains noto_person_emoji --license OFL-1.1 \
  --dataset-name noto_person_emoji --steps-before 44700 --provenance '{"trained_by": "gantrans train", "model": "stargan",
  "batch_size": 16, "steps": null, "dataset": "data/person_emoji/train (scripts/prepare_person_emoji_dataset.py)",
  "hardware": "1x H100 fp32 (27,200 steps), then a 2-core CPU bf16 (19,500 steps)",
  "schedule": "11200 steps (scripts/train_bundled_gpu.sh 420 runs both), 16000 steps fine-tuned with --init-from, then on the CPU 9000 steps into attention=true, a 1000-step critic-only DiffAugment warm-up, 3000 steps with DiffAugment, 1500 at lr 2e-5, 3000 with lambda_id 10, 2000 with lambda_id 20 (scripts/train_person_emoji_stargan.sh), each with linear decay over its second half"}'
