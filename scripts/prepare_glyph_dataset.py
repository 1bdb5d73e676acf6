"""Build the unpaired glyph dataset for the bundled MUNIT model (data is not committed).

Domain A: the 62 characters A-Z a-z 0-9 in DejaVu Sans (installed with Pillow's usual fonts).
Domain B: the same characters in many typefaces from Debian packages (`fonts-liberation2`,
`fonts-freefont-ttf`, `fonts-urw-base35`, `fonts-texgyre`, `fonts-dkg-handwriting`).
64x64 grey, black glyph on white, centred, scaled to a common cap height.

A character a font lacks is skipped: its rendering equals the font's .notdef glyph (a private-use
code point no text font maps) or is blank. Glyphs go to trainB/<font>/<char>.png; a font file is held
out (testB/<font>/) when int(sha1(file_basename).hexdigest(), 16) % 5 == 0 and is never trained on.

    sudo apt-get install fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf fonts-urw-base35 fonts-texgyre fonts-dkg-handwriting
    python scripts/prepare_glyph_dataset.py data/glyphs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CHARS = string.ascii_uppercase + string.ascii_lowercase + string.digits
SIZE = 64
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_DIRS = [
    "/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/freefont", "/usr/share/fonts/opentype/urw-base35",
    "/usr/share/texmf/fonts/opentype/public/tex-gyre", "/usr/share/fonts/truetype/fifthhorseman",
    "/usr/share/fonts/opentype/dkg-handwriting", "/usr/share/fonts/truetype/dkg-handwriting",
]  # fmt: skip
SKIP = ("Symbol", "Dingbat", "Math", "D050000L")  # symbol fonts map letters to other signs (D050000L: URW Dingbats)


def held_out(name: str) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 5 == 0


def render(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    """Glyph as a (64, 64) uint8 image: ink bbox scaled to fit 48 px, centred on white."""
    left, top, right, bottom = font.getbbox(ch)
    w, h = max(1, right - left), max(1, bottom - top)
    img = Image.new("L", (w + 4, h + 4), 255)
    ImageDraw.Draw(img).text((2 - left, 2 - top), ch, font=font, fill=0)
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr < 128)
    if len(ys) == 0:
        return np.full((SIZE, SIZE), 255, np.uint8)
    img = img.crop((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    scale = 48 / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (SIZE, SIZE), 255)
    canvas.paste(img, ((SIZE - img.width) // 2, (SIZE - img.height) // 2))
    return np.asarray(canvas)


def glyphs(path: Path) -> dict[str, np.ndarray]:
    font = ImageFont.truetype(str(path), 96)
    notdef = render(font, "\ue000")
    out = {}
    for ch in CHARS:
        g = render(font, ch)
        if (g < 128).sum() < 8 or np.array_equal(g, notdef):
            continue
        out[ch] = g
    return out


def name_of(ch: str) -> str:
    return f"{'U' if ch.isupper() else 'L' if ch.islower() else 'D'}_{ch}"  # case-safe file names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    for sub in ("trainA", "trainB", "testA", "testB"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    for ch, g in glyphs(DEJAVU).items():
        for sub in ("trainA", "testA"):
            Image.fromarray(g).save(args.out / sub / f"{name_of(ch)}.png")
    fonts = sorted({p for d in FONT_DIRS for p in Path(d).glob("*") if p.suffix.lower() in (".ttf", ".otf")})
    fonts = [p for p in fonts if not any(s in p.name for s in SKIP)]
    stats = {"train_fonts": [], "test_fonts": [], "skipped_chars": {}}
    for path in fonts:
        try:
            gl = glyphs(path)
        except OSError as e:
            print(f"skip {path.name}: {e}")
            continue
        if len(gl) < 40:  # not a text font
            print(f"skip {path.name}: only {len(gl)} of 62 characters")
            continue
        stem = path.stem.replace(" ", "_")
        test = held_out(path.name)
        stats["test_fonts" if test else "train_fonts"].append(path.name)
        stats["skipped_chars"][path.name] = "".join(c for c in CHARS if c not in gl)
        for ch, g in gl.items():
            folder = args.out / ("testB" if test else "trainB") / stem  # grouped by font: MUNIT's guided_w reads
            folder.mkdir(exist_ok=True)  # trainB/<font>/<char>.png with trainA/<char>.png as triplets
            Image.fromarray(g).save(folder / f"{name_of(ch)}.png")
    (args.out / "fonts.json").write_text(json.dumps(stats, indent=1))
    print(f"{len(stats['train_fonts'])} training fonts, {len(stats['test_fonts'])} held-out fonts -> {args.out}")


if __name__ == "__main__":
    main()
