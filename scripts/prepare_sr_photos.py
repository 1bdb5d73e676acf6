"""Build the photo dataset of the bundled super-resolution models from Debian wallpaper packages and the
photos in scikit-image's wheel (nothing is downloaded at run time beyond the Debian packages).

    cd /tmp && apt-get download lomiri-wallpapers-16.04 mate-backgrounds plasma-workspace-wallpapers
    for f in /tmp/*.deb; do dpkg-deb -x "$f" /tmp/photos; done
    python scripts/prepare_sr_photos.py /tmp/photos data/sr_photos

Only real photographs are used (the packages also hold illustrations and renders; the list below was
chosen by looking at every file). A photo is held out when int(sha1(file basename)) % 5 == 0. Each photo is
first reduced (Lanczos) so that its long side is at most 2048 px: the wallpapers are JPEGs at 2-5 K whose
finest detail is compression noise, and a gentle reduction gives clean HR images (as DIV2K's HR are). Then:

    train/   non-overlapping 256x256 tiles of the training photos (the stream crops them further)
    test/HR  each held-out photo (after the reduction), cropped to a multiple of 4, PNG
    test/LR  the same reduced x4 with antialiased bicubic, rounded to 8 bits (PNG)
    test/bicubic  LR enlarged x4 with PIL bicubic: the baseline
    (FID/KID compare 128x128 tiles of these: scripts/evaluate_sr_model.py)
    sources.json  every photo used: package, path, split, licence
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gantrans.train.degrade import bicubic_down  # noqa: E402

LOMIRI = "usr/share/backgrounds"
PHOTOS = {  # path under the extracted packages -> licence (from each package's debian/copyright)
    **{f"{LOMIRI}/{n}": lic for n, lic in {
        "Bridge_by_Sander_Klootwijk.jpg": "CC-BY-SA-4.0", "Dragonfly_by_Bolly.jpg": "CC-BY-SA-4.0",
        "Picture_0B_by_freespace.jpg": "CC-BY-4.0", "Picture_1A_by_freespace.jpg": "CC-BY-4.0",
        "aitzgorri_by_Aitzol_Berasategi.jpg": "CC-BY-4.0", "free_by_Peter_Nerlich.jpg": "CC-BY-SA-4.0",
        "greentock_by_Peter_Nerlich.jpg": "CC-BY-SA-4.0", "life_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg": "CC-BY-4.0", "seeding_by_Clements_Engelhardt.jpg": "CC0-1.0",
        "sunset_by_Aitzol_Berasategi.jpg": "CC-BY-4.0",
    }.items()},
    **{f"{LOMIRI}/mate/nature/{n}.jpg": "GPL-2+" for n in (
        "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings",
        "Wood", "YellowFlower")},
    **{f"usr/share/wallpapers/{n}/contents/images/{s}": "GPL-2+" for n, s in (
        ("BytheWater", "2560x1600.jpg"), ("ColdRipple", "2560x1600.jpg"), ("ColorfulCups", "2560x1600.jpg"),
        ("DarkestHour", "2560x1600.jpg"), ("EveningGlow", "2560x1600.jpg"), ("FallenLeaf", "2560x1600.jpg"),
        ("Grey", "2560x1600.jpg"), ("Kite", "2560x1600.jpg"), ("OneStandsOut", "2560x1600.jpg"), ("Path", "2560x1600.jpg"),
        ("Volna", "5120x2880.jpg"), ("summer_1am", "2560x1600.jpg"))},
}  # fmt: skip
SKIMAGE = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg")
PACKAGE = {"usr/share/backgrounds/mate": "mate-backgrounds", "usr/share/backgrounds": "lomiri-wallpapers-16.04",
           "usr/share/wallpapers": "plasma-workspace-wallpapers"}  # fmt: skip


def held_out(path: Path) -> bool:
    return int(hashlib.sha1(path_name(path).encode()).hexdigest(), 16) % 5 == 0


def path_name(path: Path) -> str:
    """The basename the hold-out hashes: plasma's files are all named by size, so their folder names them."""
    return path.parts[-3] if path.parent.name == "images" else path.name


def skimage_files() -> dict[Path, str]:
    files = importlib.metadata.files("scikit-image") or []
    out = {}
    for f in files:
        if str(f).startswith("skimage/data/") and f.name in SKIMAGE:
            out[Path(f.locate())] = "scikit-image data (BSD-3 / public domain / CC0 per its README)"
    return out


def reduce(img: Image.Image, long_side: int = 2048) -> Image.Image:
    w, h = img.size
    f = long_side / max(w, h)
    return img if f >= 1 else img.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)


def main(src: Path, out: Path) -> None:
    sources = {src / p: lic for p, lic in PHOTOS.items()}
    sources.update(skimage_files())
    missing = [p for p in sources if not p.exists()]
    if missing:
        sys.exit(f"missing photos (extract the packages into {src}): {', '.join(map(str, missing[:3]))} ...")
    for d in ("train", "test/HR", "test/LR", "test/bicubic"):
        (out / d).mkdir(parents=True, exist_ok=True)
    record = []
    for path, lic in sorted(sources.items()):
        name = Path(path_name(path)).stem
        img = reduce(Image.open(path).convert("RGB"))
        w, h = img.size
        test = held_out(path)
        pkg = next((v for k, v in PACKAGE.items() if k in str(path)), "scikit-image")
        record.append({"file": str(path.relative_to(src)) if str(path).startswith(str(src)) else path.name, "package": pkg,
                       "licence": lic, "split": "test" if test else "train", "size": [w, h]})  # fmt: skip
        if not test:
            for y in range(0, h - 255, 256):
                for x in range(0, w - 255, 256):
                    img.crop((x, y, x + 256, y + 256)).save(out / "train" / f"{name}_{y:04d}_{x:04d}.png")
            continue
        hr = img.crop((0, 0, w - w % 4, h - h % 4))
        hr.save(out / "test" / "HR" / f"{name}.png")
        t = torch.from_numpy(np.asarray(hr, dtype=np.float32) / 255).permute(2, 0, 1)
        lr = Image.fromarray((bicubic_down(t, 4).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        lr.save(out / "test" / "LR" / f"{name}.png")
        lr.resize(hr.size, Image.Resampling.BICUBIC).save(out / "test" / "bicubic" / f"{name}.png")
    (out / "sources.json").write_text(json.dumps(record, indent=1) + "\n")
    n_test = sum(r["split"] == "test" for r in record)
    print(f"{len(record)} photos: {len(record) - n_test} train ({len(list((out / 'train').iterdir()))} tiles), {n_test} held out")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
