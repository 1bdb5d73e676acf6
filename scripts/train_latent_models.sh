#!/usr/bin/env bash
# Train the latent bundled models of issue 19 on a CPU (what weights/*.md report), then evaluate them:
#   python scripts/prepare_person_emoji_dataset.py data/person_emoji
#   python scripts/prepare_glyph_dataset.py data/glyphs
#   bash scripts/train_latent_models.sh data runs
#   python scripts/evaluate_latent_models.py person-emoji runs/vaegan/model.safetensors data/person_emoji \
#       --store weights/person_emoji_vaegan.safetensors --strip weights/person_emoji_vaegan_heldout.png
#   python scripts/evaluate_latent_models.py glyphs runs/infogan/model.safetensors --grid weights/glyphs_infogan_traversal.png \
#       --digits data/glyph_digits --digits-test data/glyphs/testB
# glyphs_infogan was stopped at 13,500 steps; person_emoji_vaegan ran 9,000 steps, then `gantrans train --resume runs/vaegan --steps 16000`.
set -euo pipefail
data=${1:-data}; runs=${2:-runs}
mkdir -p "$data/glyph_digits"
for f in "$data"/glyphs/trainB/*__D_*.png; do ln -sf "$(realpath "$f")" "$data/glyph_digits/$(basename "$f")"; done
OMP_NUM_THREADS=1 python -m gantrans train "$data/person_emoji/train/images" --arch vaegan -o "$runs/vaegan" --size 64 --ngf 32 --ndf 32 \
  --set nz=128 --set sn=true --batch-size 32 --steps "${VAEGAN_STEPS:-9000}" --seed 0 --log-every 200 --save-every 500 --sample-every 1000 &
OMP_NUM_THREADS=1 python -m gantrans train "$data/glyph_digits" --arch infogan -o "$runs/infogan" --size 64 --ngf 32 --ndf 32 \
  --set input_nc=1 --set output_nc=1 --set nz=62 --set codes=cat:10,cont:2 --set sn=true --batch-size 32 --steps "${INFOGAN_STEPS:-13500}" \
  --seed 0 --log-every 200 --save-every 500 --sample-every 1000 &
wait
