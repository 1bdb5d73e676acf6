"""Turn a CycleGAN checkpoint with transposed-conv ResNet generators into one with resize-convolution upsampling
(`upsample=resize`), as the starting point of a fine-tune (`gantrans train --init-from OUT --set upsample=resize`).

    python scripts/resize_upsampling_init.py MODEL OUT.safetensors --a DIR_OF_DOMAIN_A --b DIR_OF_DOMAIN_B [--images N]

Every weight but the two upsampling layers of each generator is copied; those are fitted by least squares
(`ResnetGenerator.with_resize_upsampling`) to what the transposed convolutions give on N images of the
generator's input domain (G_A: A, G_B: B; the first N in sorted order, at the model's training size).
The result is not the same translation (the fit cannot reproduce the transposed convs' uneven taps, which
is the point); the script prints how far its outputs are from the original's on the fitting images.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from gantrans.io.checkpoint import load_checkpoint, save_checkpoint
from gantrans.io.images import list_images, open_image


def load_dir(folder: Path, n: int, size: int) -> torch.Tensor:
    """The first n images below folder, RGB, resized to size x size -> (n, 3, size, size) in [-1, 1]."""
    files = list_images(folder)[:n]
    if not files:
        raise SystemExit(f"no images under {folder}")
    px = [np.asarray(open_image(f)[0].convert("RGB").resize((size, size))) for f in files]
    return torch.from_numpy(np.stack(px)).permute(0, 3, 1, 2).float() / 127.5 - 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--a", type=Path, required=True, help="images of domain A (G_A's inputs)")
    ap.add_argument("--b", type=Path, required=True, help="images of domain B (G_B's inputs)")
    ap.add_argument("--images", type=int, default=48, help="images per domain to fit on (default 48)")
    args = ap.parse_args()
    ck = load_checkpoint(args.model)
    fits = set(ck.networks) == {"G_A", "G_B"} and hasattr(ck.networks["G_A"], "with_resize_upsampling")  # a U-Net has no fit
    if not fits or getattr(ck.config, "upsample", None) != "transpose":
        raise SystemExit(f"{args.model}: not a CycleGAN checkpoint with transposed-conv ResNet generators")
    size = int(ck.preprocess.get("size", 256))
    fitted = {}
    for name, folder in (("G_A", args.a), ("G_B", args.b)):
        x = load_dir(folder, args.images, size)
        old = ck.networks[name].float().eval()
        new = old.with_resize_upsampling(x).eval()
        with torch.no_grad():
            gap = (new(x) - old(x)).abs().mean().item() * 127.5
        print(f"{name}: fitted on {len(x)} images; mean |new - old| = {gap:.2f} levels")
        ck.networks[name] = new
        fitted[name] = len(x)
    ck.config = dataclasses.replace(ck.config, upsample="resize")
    ck.provenance["resize_upsampling_init"] = {"from": str(args.model), "images": args.images, "fitted": fitted}
    save_checkpoint(ck, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
