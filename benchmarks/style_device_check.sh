#!/usr/bin/env bash
# Run on a CUDA machine after training runs/munit_glyphs (scripts/train_bundled_gpu.sh):
#   bash benchmarks/style_device_check.sh [MODEL]
# style-sample of the new MUNIT model on CPU and CUDA: the same seeds must give the same images
set -e
m=${1:-runs/munit_glyphs/model.safetensors}
mkdir -p /tmp/in; cp data/glyphs/testA/U_A.png data/glyphs/testA/L_g.png data/glyphs/testA/D_7.png /tmp/in/
for dev in cpu cuda; do
  python -m gantrans style-sample /tmp/in -m $m -o /tmp/ss_$dev --seeds 0-7 --device $dev --precision fp32 -q
done
python -m gantrans style-sample /tmp/in -m $m -o /tmp/ss_fp16 --seeds 0-7 --device cuda -q
python - <<'PY'
import numpy as np, glob, os
from PIL import Image
for other in ("cuda", "fp16"):
    d = []
    for f in sorted(glob.glob("/tmp/ss_cpu/*.png")):
        a = np.asarray(Image.open(f), np.int16); b = np.asarray(Image.open(f.replace("ss_cpu", "ss_" + other)), np.int16)
        d.append(np.abs(a - b).ravel())
    d = np.concatenate(d)
    print(f"style-sample CPU fp32 vs CUDA {other}: {len(glob.glob('/tmp/ss_cpu/*.png'))} images, max {d.max()} levels, mean {d.mean():.3f}, >2 levels {(d > 2).mean():.2%}")
PY
