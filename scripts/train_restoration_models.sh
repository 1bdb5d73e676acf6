#!/usr/bin/env bash
# Train the bundled photo-restoration models on this project's 2-core CPU (what was run for weights/):
#   python scripts/prepare_sr_photos.py /tmp/photos data/sr_photos      (see that script for the packages)
#   bash scripts/train_restoration_models.sh data/sr_photos runs
# sr_photo_x4:     srvgg_compact (48 features, 16 body convs), L1, 128 px HR crops, batch 16, cosine lr 5e-4, 12,000 steps
# sr_photo_x4_gan: the realesrgan recipe from it (L1 on USM-sharpened HR + 0.1 GAN with the U-Net SN D, EMA 0.999),
#                  bicubic degradation (the held-out test's), no perceptual loss (no VGG-19 weights offline)
# inpaint_photo:   gated_inpaint cnum 32 (the paper's 48 is ~2.5x slower on CPU), 128 px crops, batch 8, gan_alpha 0.1
set -euo pipefail
data=${1:-data/sr_photos}; runs=${2:-runs}
python -m gantrans train "$data/train" --arch srresnet -o "$runs/sr_psnr" --set netG=srvgg_compact --ngf 48 --set num_block=16 \
  --size 128 --batch-size 16 --set pixel_loss=l1 --lr 5e-4 --set lr_policy=cosine --steps 12000 --workers 2 --seed 0 \
  --log-every 200 --save-every 1000 --sample-every 2000
python -m gantrans train "$data/train" --arch realesrgan -o "$runs/sr_gan" --init-from "$runs/sr_psnr/model.safetensors" \
  --set netG=srvgg_compact --ngf 48 --set num_block=16 --set degradation=bicubic --ndf 32 --size 128 --batch-size 8 \
  --steps "${SR_GAN_STEPS:-3000}" --workers 1 --seed 0 --log-every 100 --save-every 250 --sample-every 1000
python -m gantrans train "$data/train" --arch inpaint -o "$runs/inpaint" --size 128 --batch-size 8 --set cnum=32 --ndf 32 \
  --set gan_alpha=0.1 --set mask_ratio=0.5 --steps "${INPAINT_STEPS:-20000}" --workers 1 --seed 0 --log-every 50 \
  --save-every 250 --sample-every 1000
