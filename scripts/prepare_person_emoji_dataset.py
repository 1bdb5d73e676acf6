"""Build the labelled person-emoji dataset for the bundled StarGAN model (data is not committed).

Person emoji from Noto Color Emoji (Debian `fonts-noto-color-emoji`, SIL OFL 1.1), 64x64 on white,
with three exclusive attribute groups taken from the Unicode sequences themselves:

  tone    none + the five EMOJI MODIFIER FITZPATRICK code points (U+1F3FB..U+1F3FF)
  gender  person / man / woman: the base ADULT / MAN / WOMAN (U+1F9D1 / U+1F468 / U+1F469), or a
          ZWJ + FEMALE SIGN / MALE SIGN suffix on a gesture emoji (none = person)
  hair    default + the four EMOJI COMPONENT hair code points (U+1F9B0..U+1F9B3)

Which sequences exist is discovered, not listed by hand: a candidate sequence counts when the font
renders it as one glyph (a ligature). Candidates are ADULT/MAN/WOMAN + ZWJ + any emoji code point
(roles such as health worker), any emoji + ZWJ + gender sign (gestures), each with every tone, and
ADULT/MAN/WOMAN + ZWJ + hair. Attribute names come from `unicodedata.name`.

A base emoji (the sequence without tone, hair and gender) is held out (test/) when
int(sha1(base).hexdigest(), 16) % 10 == 0. Output: CelebA-style attribute files

    OUT/train/list_attr.txt + OUT/train/images/*.png
    OUT/test/list_attr.txt  + OUT/test/images/*.png
    OUT/manifest.json       {file: {"base", "tone", "gender", "hair", "split"}}

    sudo apt-get install fonts-noto-color-emoji
    python scripts/prepare_person_emoji_dataset.py data/person_emoji
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from pathlib import Path

from PIL import ImageFont

sys.path.insert(0, str(Path(__file__).parent))
from prepare_emoji_dataset import NOTO, on_white, render_noto  # noqa: E402

ZWJ, VS16 = "\u200d", "\ufe0f"
ADULT, MAN, WOMAN = "\U0001f9d1", "\U0001f468", "\U0001f469"
TONES = [chr(c) for c in range(0x1F3FB, 0x1F400)]
HAIRS = [chr(c) for c in range(0x1F9B0, 0x1F9B4)]
SIGNS = {"\u2642": MAN, "\u2640": WOMAN}  # MALE SIGN, FEMALE SIGN
CANDIDATES = [c for r in ((0x2600, 0x27C0), (0x1F300, 0x1FB00)) for c in range(*r)]


def tone_name(t: str | None) -> str:
    # "EMOJI MODIFIER FITZPATRICK TYPE-1-2" -> "tone_1_2"
    return "tone_none" if t is None else "tone_" + unicodedata.name(t).split("TYPE-")[1].replace("-", "_")


def hair_name(h: str | None) -> str:
    # "EMOJI COMPONENT RED HAIR" -> "hair_red", "EMOJI COMPONENT BALD" -> "hair_bald"
    return "hair_default" if h is None else "hair_" + unicodedata.name(h).removeprefix("EMOJI COMPONENT ").removesuffix(" HAIR").lower()


def gender_name(base: str) -> str:
    # Unicode names U+1F9D1 ADULT; CLDR and the issue call it "person"
    name = unicodedata.name(base)
    return "gender_" + {"ADULT": "person"}.get(name, name.lower())


def held_out(base_key: str) -> bool:
    return int(hashlib.sha1(base_key.encode()).hexdigest(), 16) % 10 == 0


def key(seq: str) -> str:
    return "-".join(f"{ord(c):X}" for c in seq if c != VS16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    font = ImageFont.truetype(str(NOTO), 109)
    width = font.getbbox(ADULT)[2] - font.getbbox(ADULT)[0]

    def glyph(seq: str):
        for s in (seq, seq.replace(VS16, "")):
            img = render_noto(font, s, width)
            if img is not None:
                return img
        return None

    # (base key, gender base, tone, hair, sequence)
    rows: list[tuple[str, str, str | None, str | None, str]] = []
    people = (ADULT, MAN, WOMAN)
    for tone in [None, *TONES]:
        t = tone or ""
        for p in people:  # plain person, with hair components
            for hair in [None, *HAIRS]:
                rows.append((key(ADULT), p, tone, hair, p + t + (ZWJ + hair if hair else "")))
    for c in CANDIDATES:
        ch = chr(c)
        if ch in people or ch in TONES or ch in HAIRS or unicodedata.category(ch) != "So":
            continue
        role = [p for p in people if glyph(p + ZWJ + ch + VS16) is not None]
        if len(role) == 3:  # a role emoji: the three gender forms all exist
            for tone in [None, *TONES]:
                for p in people:
                    rows.append((key(ADULT + ZWJ + ch), p, tone, None, p + (tone or "") + ZWJ + ch + VS16))
            continue
        if all(glyph(ch + ZWJ + s + VS16) is not None for s in SIGNS):  # a gesture emoji with gender variants
            for tone in [None, *TONES]:
                t = tone or ""
                rows.append((key(ch), ADULT, tone, None, ch + t))
                for s, p in SIGNS.items():
                    rows.append((key(ch), p, tone, None, ch + t + ZWJ + s + VS16))
    attrs = [tone_name(None), *map(tone_name, TONES), *map(gender_name, people), hair_name(None), *map(hair_name, HAIRS)]
    manifest, lines = {}, {"train": [], "test": []}
    for sub in ("train", "test"):
        (args.out / sub / "images").mkdir(parents=True, exist_ok=True)
    bases = set()
    for base, p, tone, hair, seq in rows:
        img = glyph(seq)
        if img is None:
            continue
        split = "test" if held_out(base) else "train"
        name = key(seq) + ".png"
        on_white(img).save(args.out / split / "images" / name)
        values = {tone_name(tone), gender_name(p), hair_name(hair)}
        lines[split].append(name + " " + " ".join("1" if a in values else "-1" for a in attrs))
        manifest[name] = {"base": base, "tone": tone_name(tone), "gender": gender_name(p), "hair": hair_name(hair), "split": split}
        bases.add((base, split))
    for split, ls in lines.items():
        (args.out / split / "list_attr.txt").write_text(f"{len(ls)}\n{' '.join(attrs)}\n" + "\n".join(ls) + "\n")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=0, sort_keys=True))
    groups = {"tone": attrs[:6], "gender": attrs[6:9], "hair": attrs[9:]}
    (args.out / "groups.json").write_text(json.dumps(groups))
    n_test = sum(1 for _, s in bases if s == "test")
    print(f"{len(lines['train'])} train / {len(lines['test'])} test images; {len(bases) - n_test} train / {n_test} held-out bases")
    print("groups: " + " ".join(f"--group {g}={','.join(m)}" for g, m in groups.items()))


if __name__ == "__main__":
    main()
