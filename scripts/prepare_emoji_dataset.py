"""Build the unpaired emoji dataset for the bundled default model (data is not committed).

Domain A: Noto Color Emoji (Debian `fonts-noto-color-emoji`, SIL OFL 1.1), rendered with Pillow at
size 109 (the font's bitmap strike) and composited on white. Domain B: EmojiOne PNGs (Debian
`ruby-gemojione`, CC BY-SA 4.0, Ranks.com) composited on white. Both 64x64.

Emoji are matched by normalised code point (upper-case hex joined by '-', FE0F removed). An emoji
is held out (testA/testB) when int(sha1(key).hexdigest(), 16) % 10 == 0; the rest go to trainA/trainB.
Files are named by key, so testA/K.png and testB/K.png are the same emoji (for paired evaluation).

    sudo apt-get install fonts-noto-color-emoji ruby-gemojione
    python scripts/prepare_emoji_dataset.py data/emoji

`--train-b-scale 0.92` draws the EmojiOne training images smaller, so that their drawings span about
what Noto's do (EmojiOne's fill ~58 of 64 pixels, Noto's ~54): a generator trained on them has no
reason to enlarge a drawing past where its input ends; `--train-b-scale 0.92,1` draws each at its own
scale in that range (both sizes seen). The held-out images are never rescaled.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

NOTO = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJIONE = Path("/usr/share/rubygems-integration/all/gems/gemojione-3.3.0/assets/png")
SIZE = 64


def normalise(codepoints: str) -> str:
    return "-".join(p.upper() for p in codepoints.split("-") if p.upper() != "FE0F")


def held_out(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10 == 0


def train_scale(key: str, lo: float, hi: float) -> float:
    """A scale in [lo, hi] fixed by the emoji's key (uniform over the keys), so a rebuild gives the same images."""
    u = int(hashlib.sha1(f"scale:{key}".encode()).hexdigest(), 16) % 1001 / 1000
    return lo + (hi - lo) * u


def on_white(img: Image.Image, scale: float = 1.0) -> Image.Image:
    """`img` centred on a white square, drawn at `scale` x SIZE pixels of the SIZE x SIZE result."""
    img = img.convert("RGBA")
    side = round(max(img.size) / scale)
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    return canvas.convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def render_noto(font: ImageFont.FreeTypeFont, text: str, single_width: int) -> Image.Image | None:
    """One colour glyph for `text`, or None if the font has no single glyph for it."""
    left, top, right, bottom = font.getbbox(text)
    if right - left <= 0 or right - left > 1.5 * single_width:  # several glyphs: no ligature for it
        return None
    img = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((-left, -top), text, font=font, embedded_color=True)
    if img.getchannel("A").getextrema()[1] == 0:
        return None
    colours = img.convert("RGB").getcolors(1 << 16)
    if colours is not None and len(colours) < 4:  # .notdef renders as a flat box
        return None
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--train-b-scale", default="1", metavar="S[,S_MAX]",
                    help="draw the EmojiOne training images (trainB only; the held-out ones stay as they are) at S x 64 "
                         "pixels on the 64x64 white canvas, or each at its own scale in [S, S_MAX] (drawn from its key's "
                         "hash); Noto's drawings span ~0.92 of EmojiOne's on average")
    args = ap.parse_args()
    parts = args.train_b_scale.split(",")
    try:
        if len(parts) > 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[-1])
    except ValueError:
        ap.error("--train-b-scale takes S or S,S_MAX")
    if not 0.0 < lo <= hi <= 1.0:
        ap.error("--train-b-scale: need 0 < S <= S_MAX <= 1")
    font = ImageFont.truetype(str(NOTO), 109)
    single = font.getbbox("\U0001F600")[2] - font.getbbox("\U0001F600")[0]
    counts = {"train": 0, "test": 0, "unmatched": 0}
    seen: set[str] = set()
    for png in sorted(EMOJIONE.glob("*.png")):
        key = normalise(png.stem)
        if key in seen:
            continue
        cps = [int(p, 16) for p in key.split("-")]
        glyph = None
        for variant in (cps, cps[:1] + [0xFE0F] + cps[1:]):  # some sequences need FE0F to ligate
            glyph = render_noto(font, "".join(map(chr, variant)), single)
            if glyph is not None:
                break
        if glyph is None:
            counts["unmatched"] += 1
            continue
        seen.add(key)
        split = "test" if held_out(key) else "train"
        for side, img in (("A", glyph), ("B", Image.open(png))):
            d = args.out / f"{split}{side}"
            d.mkdir(parents=True, exist_ok=True)
            scale = train_scale(key, lo, hi) if (split, side) == ("train", "B") else 1.0
            on_white(img, scale).save(d / f"{key}.png")
        counts[split] += 1
    print(f"{args.out}: {counts['train']} training and {counts['test']} held-out emoji per domain; "
          f"{counts['unmatched']} EmojiOne images without a Noto glyph skipped")


if __name__ == "__main__":
    main()
