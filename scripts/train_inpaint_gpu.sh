#!/usr/bin/env bash
# Train the bundled inpainting model (issue 18) on one GPU within BUDGET seconds, then evaluate it on CPU here.
#
# Here (CPU), once:   python scripts/prepare_sr_photos.py /tmp/photos data/sr_photos      (see that script)
#                     python scripts/pack_tiles.py data/sr_photos/train data/inpaint_tiles    # JPEG q95, ~1/4 the size
# On the GPU machine: bash scripts/train_inpaint_gpu.sh data/inpaint_tiles RUN_DIR [BUDGET_SECONDS]
#   (a RUN_DIR that already holds a run -- carried back from an earlier lease -- is resumed for another budget, so
#   short leases add up; carry RUN_DIR's config.json, metrics.jsonl, model.safetensors and train_state.pt)
# Back here:          python scripts/evaluate_inpaint_model.py RUN_DIR/model.safetensors data/sr_photos --size 128 --out /tmp/inpeval128
#
# Settings (said in the model card): DeepFill v2's generator at cnum 32 (the paper's 48 is the default), SN-PatchGAN
# ndf 32, 128 px crops, batch 32, bf16 autocast, Adam 2e-4 (0.5, 0.999), gan_alpha 0.1 (L1 weighted up: the held-out
# figures include L1/PSNR), Kaiming (fan-in) init instead of the official Glorot: each gated layer passes on about a
# third of its input's std at Glorot init, so through DeepFill's 17-layer stacks the output std starts ~3e-8 and learning
# crawls (a CPU probe: held-out hole L1 27.3 after 750 steps vs 34.1 after 1,000 with PyTorch's default init);
# prefill=diffusion: the hole enters as a harmonic fill and the stages learn residuals on it (what the bundled
# CPU model does: see weights/inpaint_photo.md); blend=poisson: the refined output is Poisson-blended into the known
# pixels, in training too, so the losses see what `gantrans inpaint` writes (no seam; the bundled model's FID/KID
# beat the harmonic fill only with it).
# A 60-step probe measures the speed; the run gets the steps that fit the budget.
set -euo pipefail
data=${1:?usage: train_inpaint_gpu.sh DATA RUN_DIR [BUDGET_SECONDS]}
run=${2:?usage: train_inpaint_gpu.sh DATA RUN_DIR [BUDGET_SECONDS]}
budget=${3:-420}
py=${PYTHON:-python3}
dev=${DEV:-cuda}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
args=("$data" --arch inpaint --size 128 --load-size 128 --batch-size 32 --set cnum=32 --ndf 32 --lr 2e-4
      --set gan_alpha=0.1 --set mask_ratio=0.5 --set init_type=kaiming --set prefill=diffusion --set blend=poisson --device "$dev" --precision bf16 --workers 8 --sample-every 1000)
if [ "${SMOKE:-0}" = 1 ]; then  # SMOKE=1 DEV=cpu: the same commands, tiny (checks the script without a GPU)
  args=("$data" --arch inpaint --size 64 --load-size 64 --batch-size 2 --set cnum=8 --ndf 8 --device "$dev" --workers 0)
fi
rm -rf "$run.probe"
$py -m gantrans train "${args[@]}" -o "$run.probe" --steps "${PROBE_STEPS:-60}" --log-every $(( ${PROBE_STEPS:-60} / 2 )) -q
more=$($py -c "import json,sys; r = json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(max(2, int(r['it_s'] * $budget * 0.9) // 100 * 100))" "$run.probe/metrics.jsonl")
if [ -f "$run/train_state.pt" ]; then
  done_steps=$($py -c "import torch,sys; print(torch.load(sys.argv[1], map_location='cpu', weights_only=True)['step'])" "$run/train_state.pt")
  echo "inpaint: resuming $run at step $done_steps for $more more steps"
  $py -m gantrans train --resume "$run" --steps $((done_steps + more)) --device "$dev" --save-every 1000 --log-every 100 -q
else
  echo "inpaint: $more steps in about $budget s"
  $py -m gantrans train "${args[@]}" -o "$run" --steps "$more" --save-every 1000 --log-every 100 -q
fi
