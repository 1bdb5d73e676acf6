#!/usr/bin/env bash
# Train the latent bundled models of issue 19 (not yet bundled: they need more compute than a 2-core CPU session has).
#   python scripts/prepare_person_emoji_dataset.py data/person_emoji
#   python scripts/prepare_glyph_dataset.py data/glyphs
#   bash scripts/train_latent_models.sh data runs
# then: python scripts/evaluate_latent_models.py person-emoji runs/vaegan/model.safetensors data/person_emoji --store weights/person_emoji_vaegan.safetensors
#       python scripts/evaluate_latent_models.py glyphs runs/infogan/model.safetensors --grid weights/glyphs_infogan_traversal.png
set -euo pipefail
data=${1:-data}; runs=${2:-runs}
python -m gantrans train "$data/person_emoji/train/images" --arch vaegan -o "$runs/vaegan" --size 64 --ngf 64 --ndf 64 \
  --set nz=128 --batch-size 64 --steps "${VAEGAN_STEPS:-20000}" --seed 0 --log-every 200 --save-every 1000 --sample-every 1000
python -m gantrans train "$data/glyphs/trainB" --arch infogan -o "$runs/infogan" --size 64 --ngf 64 --ndf 64 \
  --set input_nc=1 --set output_nc=1 --set nz=62 --set codes=cat:10,cont:2 --batch-size 64 --steps "${INFOGAN_STEPS:-20000}" \
  --seed 0 --log-every 200 --save-every 1000 --sample-every 1000
