#!/usr/bin/env bash
# Train the bundled MUNIT (glyphs) and StarGAN (person emoji) models side by side on one GPU,
# each within BUDGET seconds: a 60-step probe measures both runs' speed together, then each run
# gets the number of steps that fits (so its learning-rate schedule completes).
#   python scripts/prepare_glyph_dataset.py data/glyphs
#   python scripts/prepare_person_emoji_dataset.py data/person_emoji
#   bash scripts/train_bundled_gpu.sh [BUDGET_SECONDS] [RUNS_DIR] [both|munit|stargan] [MUNIT_BATCH]
set -euo pipefail
budget=${1:-420}; runs=${2:-runs}; which=${3:-both}; mbatch=${4:-32}
groups=$(python -c "import json; g = json.load(open('data/person_emoji/groups.json')); print(' '.join(f'--group {k}=' + ','.join(v) for k, v in g.items()))")
munit=(data/glyphs --arch munit --domains dejavu,fonts --set input_nc=1 --set output_nc=1 --size 64 --load-size 64
       --batch-size $mbatch --workers 5 --precision fp32 --sample-every 500)
stargan=(data/person_emoji/train --arch stargan $groups --size 64 --batch-size 16 --set d_repeat_num=5
         --workers 5 --precision fp32 --sample-every 1000)
rm -rf "$runs/probe_munit" "$runs/probe_stargan"
want() { [ "$which" = both ] || [ "$which" = "$1" ]; }
want munit && python -m gantrans train "${munit[@]}" -o "$runs/probe_munit" --steps 60 --log-every 30 -q &
want stargan && python -m gantrans train "${stargan[@]}" -o "$runs/probe_stargan" --steps 60 --log-every 30 -q &
wait
rate() { python -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['it_s'])" "$1/metrics.jsonl"; }
steps_for() { python -c "print(int($(rate "$runs/probe_$1") * $budget * 0.9) // 100 * 100)"; }
if want munit; then
  mu_steps=$(steps_for munit); echo "munit: $mu_steps steps"
  python -m gantrans train "${munit[@]}" -o "$runs/munit_glyphs" --steps "$mu_steps" --save-every 1000 --log-every 100 -q &
fi
if want stargan; then
  sg_steps=$(steps_for stargan); echo "stargan: $sg_steps steps"
  python -m gantrans train "${stargan[@]}" -o "$runs/stargan_person_emoji" --steps "$sg_steps" --save-every 2000 --log-every 100 -q &
fi
wait
