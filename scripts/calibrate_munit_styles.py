"""Calibrate a MUNIT checkpoint's style prior on real images of its domains (`gantrans.engine.styles.calibrate_style_prior`).

    python scripts/calibrate_munit_styles.py MODEL OUT.safetensors --a2b DIR_OF_DOMAIN_B [--b2a DIR_OF_DOMAIN_A] [--spread S] [--size N]

Random styles (`style-sample --seeds`) then follow the codes the style encoder gives the images of DIR (every image
below it, resized to N on the shorter side and centre-cropped); `--style-from` results stay as they were. The file
keeps the model's names, licence and storage precision; its provenance gains a "style_prior" entry.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from gantrans.engine.styles import calibrate_style_prior
from gantrans.engine.translator import Translator
from gantrans.io.checkpoint import load_checkpoint, save_checkpoint
from gantrans.io.images import list_images, open_image


def load_dir(t: Translator, folder: Path, size: int, direction: str) -> torch.Tensor:
    """Every image below `folder` -> (N, C, size, size) in [0, 1], C the target domain's channels."""
    other = "b2a" if direction == "a2b" else "a2b"  # the target domain is the other direction's input
    files = list_images(folder)
    if not files:
        raise SystemExit(f"no images under {folder}")
    out = []
    for f in files:
        px = t.prepare(open_image(f)[0], size, other).pixels  # (H, W, C), shorter side = size
        top, left = (px.shape[0] - size) // 2, (px.shape[1] - size) // 2
        out.append(torch.from_numpy(np.ascontiguousarray(px[top : top + size, left : left + size])).permute(2, 0, 1))
    return torch.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--a2b", type=Path, help="images of domain B (the a2b direction's styles)")
    ap.add_argument("--b2a", type=Path, help="images of domain A (the b2a direction's styles)")
    ap.add_argument("--spread", type=float, default=1.0, help="seed codes drawn as mean + SPREAD x L z (default 1)")
    ap.add_argument("--size", type=int, help="side the images are brought to (default: the model's preprocess size)")
    args = ap.parse_args()
    ck = load_checkpoint(args.model)
    with safe_open(args.model, "pt") as f:  # the storage precision, kept (a checkpoint loads as fp32)
        stored = f.get_slice(next(iter(f.keys()))).get_dtype()
    t = Translator(ck, device="cpu", precision="fp32")
    size = args.size or int(ck.preprocess.get("size", 256))
    dirs = {d: p for d, p in (("a2b", args.a2b), ("b2a", args.b2a)) if p is not None}
    if not dirs:
        ap.error("give --a2b and/or --b2a")
    refs = {d: load_dir(t, p, size, d) for d, p in dirs.items()}
    report = calibrate_style_prior(t, refs, spread=args.spread)
    ck.provenance["style_prior"] = {d: {"images": str(p), **report[d]} for d, p in dirs.items()}
    print(json.dumps(report, indent=1))
    save_checkpoint(ck, args.out, dtype=torch.float16 if stored == "F16" else None)
    print(args.out)


if __name__ == "__main__":
    main()
