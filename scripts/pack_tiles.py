"""Copy a folder of training tiles as JPEG (quality 95), to carry them to a GPU machine within its 64 MiB limit.

    python scripts/pack_tiles.py data/sr_photos/train data/inpaint_tiles

The tiles keep their names (suffix .jpg). JPEG at q95 adds small compression noise to the training images; the
held-out evaluation (scripts/evaluate_inpaint_model.py) still reads the lossless held-out photos.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    for p in files:
        Image.open(p).convert("RGB").save(dst / f"{p.stem}.jpg", quality=95)
    size = sum(f.stat().st_size for f in dst.iterdir())
    print(f"{len(files)} tiles -> {dst} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
