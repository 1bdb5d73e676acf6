#!/usr/bin/env bash
# Train the bundled photo-restoration models on this project's 2-core CPU (what was run for weights/):
#   python scripts/prepare_sr_photos.py /tmp/photos data/sr_photos      (see that script for the packages)
#   bash scripts/train_restoration_models.sh data/sr_photos runs
# sr_photo_x4:     srvgg_compact (48 features, 16 body convs), L1, 128 px HR crops, batch 16, cosine lr 5e-4, 12,000 steps
# sr_photo_x4_gan: the realesrgan recipe from it (L1 on USM-sharpened HR + 0.1 GAN with the U-Net SN D, EMA 0.999),
#                  bicubic degradation (the held-out test's), no perceptual loss (no VGG-19 weights offline)
# inpaint_photo:   gated_inpaint cnum 16 with prefill=diffusion (a harmonic fill of the hole as input, residual stages),
#                  128 px crops, batch 8, L1 only (gan_alpha 0), Kaiming init: whole-image L1 at lr 1e-3 (2,253 steps),
#                  then L1 in the hole only at lr 1e-3 (8,000 steps), then lr 1e-4 (1,500 steps); then blend=poisson set
#                  in the header (seamless compositing of the fill, no weight changes); see weights/inpaint_photo.md
set -euo pipefail
data=${1:-data/sr_photos}; runs=${2:-runs}
python -m gantrans train "$data/train" --arch srresnet -o "$runs/sr_psnr" --set netG=srvgg_compact --ngf 48 --set num_block=16 \
  --size 128 --batch-size 16 --set pixel_loss=l1 --lr 5e-4 --set lr_policy=cosine --steps 12000 --workers 2 --seed 0 \
  --log-every 200 --save-every 1000 --sample-every 2000
python -m gantrans train "$data/train" --arch realesrgan -o "$runs/sr_gan" --init-from "$runs/sr_psnr/model.safetensors" \
  --set netG=srvgg_compact --ngf 48 --set num_block=16 --set degradation=bicubic --ndf 32 --size 128 --batch-size 8 \
  --steps "${SR_GAN_STEPS:-3000}" --workers 1 --seed 0 --log-every 100 --save-every 250 --sample-every 1000
inp=(--arch inpaint --size 128 --load-size 143 --preprocess crop --batch-size 8 --ndf 32 --set cnum=16 --set init_type=kaiming
     --set prefill=diffusion --set gan_alpha=0 --set mask_ratio=0.5 --set lr_policy=constant --seed 0
     --log-every 100 --save-every 250 --sample-every 1000)
python -m gantrans train "$data/train" "${inp[@]}" -o "$runs/inpaint_l1" --lr 1e-3 --steps 2253
python -m gantrans train "$data/train" "${inp[@]}" -o "$runs/inpaint_hole" --init-from "$runs/inpaint_l1/model.safetensors" \
  --set l1_region=hole --lr 1e-3 --steps 8000
python -m gantrans train "$data/train" "${inp[@]}" -o "$runs/inpaint" --init-from "$runs/inpaint_hole/model.safetensors" \
  --set l1_region=hole --lr 1e-4 --steps 1500
python -c 'import sys, gantrans; gantrans.load(sys.argv[1], device="cpu", config={"blend": "poisson"}).save(sys.argv[2])' \
  "$runs/inpaint/model.safetensors" "$runs/inpaint_photo.safetensors"
