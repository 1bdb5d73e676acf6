"""Held-out figures for the emoji model card: paired L1/PSNR against the true target image, and a
domain classifier trained on real images, each against the identity baseline (output = input).

    python scripts/evaluate_emoji_model.py data/emoji weights/noto2emojione.safetensors \
        --figure weights/noto2emojione_heldout.png

`--figure` writes the card's figure: the example inputs (examples/emoji/noto_KEY.png, all held out) on the top
row, the a2b outputs in the middle, the true EmojiOne images (DATA/testB/KEY.png) at the bottom.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import gantrans


def load(paths: list[Path]) -> torch.Tensor:  # (N, 3, 64, 64) in [0, 1]
    return torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1) for p in paths])


def classifier() -> nn.Module:
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))


def train_classifier(a: torch.Tensor, b: torch.Tensor, epochs: int = 4, seed: int = 0) -> nn.Module:
    """Real A (label 0) vs real B (label 1), with flips so it cannot key on exact pixels."""
    torch.manual_seed(seed)
    net = classifier()
    x, y = torch.cat([a, b]), torch.cat([torch.zeros(len(a)), torch.ones(len(b))])
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            xb = x[idx]
            xb = torch.where(torch.rand(len(xb), 1, 1, 1) < 0.5, xb.flip(3), xb)
            loss = nn.functional.binary_cross_entropy_with_logits(net(xb * 2 - 1).squeeze(1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def p_target(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(net(x * 2 - 1).squeeze(1))


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = ((x - y) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("model")
    ap.add_argument("--figure", type=Path, help="write the card's held-out figure here")
    ap.add_argument("--examples", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "emoji")
    args = ap.parse_args()
    torch.set_num_threads(2)
    keys = sorted(p.stem for p in (args.data / "testA").glob("*.png"))
    test = {s: load([args.data / f"test{s}" / f"{k}.png" for k in keys]) for s in "AB"}
    train = {s: load(sorted((args.data / f"train{s}").glob("*.png"))) for s in "AB"}
    t0 = time.time()
    clf = train_classifier(train["A"], train["B"])
    acc = ((p_target(clf, test["A"]) < 0.5).float().mean() + (p_target(clf, test["B"]) >= 0.5).float().mean()) / 2
    model = gantrans.load(args.model, device="cpu")
    print(f"{len(keys)} held-out emoji; domain classifier (trained on {len(train['A'])}+{len(train['B'])} real training images, "
          f"{time.time() - t0:.0f} s): held-out accuracy {acc:.1%}\n")
    print("| direction | output | L1 to true target (0-255) | PSNR (dB) | classifier P(target domain) |")
    print("|---|---|---|---|---|")
    for direction, src, dst in (("a2b", "A", "B"), ("b2a", "B", "A")):
        if direction not in model.directions:  # a pix2pix model maps one way only
            continue
        imgs = [Image.open(args.data / f"test{src}" / f"{k}.png").convert("RGB") for k in keys]
        fake = load_pil(model.translate(imgs, direction=direction, batch_size=16))
        real_src, real_dst = test[src], test[dst]
        sign = 1 if dst == "B" else -1  # P(target) = P(B) for a2b, 1 - P(B) for b2a

        def pt(x: torch.Tensor) -> float:
            p = p_target(clf, x)
            return float((p if sign == 1 else 1 - p).mean())

        for name, x in (("identity (input)", real_src), ("gantrans", fake)):
            l1 = float((x - real_dst).abs().mean() * 255)
            print(f"| {direction} | {name} | {l1:.2f} | {psnr(x, real_dst):.2f} | {pt(x):.3f} |")
        print(f"| {direction} | real target images | 0 | inf | {pt(real_dst):.3f} |")
    if args.figure:
        figure(model, args.data, args.examples, args.figure)


def figure(model: "gantrans.Translator", data: Path, examples: Path, out: Path) -> None:
    from torchvision.utils import make_grid, save_image

    srcs = sorted(examples.glob("noto_*.png"))
    inputs = [Image.open(p).convert("RGB") for p in srcs]
    truths = load([data / "testB" / f"{p.stem.removeprefix('noto_')}.png" for p in srcs])
    rows = torch.cat([load_pil(inputs), load_pil(model.translate(inputs, direction="a2b")), truths])  # (3N, 3, H, W)
    save_image(make_grid(rows, nrow=len(srcs), padding=0), out)
    print(f"\nfigure: {out}")


def load_pil(images: list[Image.Image]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1) for im in images])


if __name__ == "__main__":
    main()
