"""Evaluate a person-emoji StarGAN on the held-out bases of data/person_emoji (test split).

For every held-out image and every group (tone, gender, hair) and every other value of that group:
edit the image to that value, keeping the other attributes at their true values (as --source would),
and, when the true edited emoji exists (same base, same other attributes), measure the mean absolute
error to it in levels (0-255) against the baseline of the unedited input. The stored classifier's
accuracy on the edited images (does it see the requested value?) and on the real held-out images is
reported per group (and, for the edits, per requested value). Hair variants exist only for the plain
person base, which is not held out: the hair L1 is therefore measured on the training base and labelled
as such. Each L1 is also split by where its error lies: pixels the true edit changes (input and true target
differ by more than 24 levels in some channel) and pixels it keeps (an edit should leave these alone); the two
parts add up to the L1.

    python scripts/evaluate_person_emoji_model.py MODEL [data/person_emoji] [--export DIR] [--figure OUT.png] [--judge MODEL2]

--export DIR writes every held-out edit that has a true target as DIR/model/N.png, its unedited input
as DIR/baseline/N.png and the true edited emoji as DIR/real/N.png, for `gantrans eval` (FID/KID, and
L1/PSNR/SSIM by matching names), and, for the hair edits of held-out bases (no true target exists:
Unicode has hair variants for the plain person only), every such edit as DIR/hair_edits/N.png beside
the real held-out images as DIR/held_out/N.png: `gantrans eval DIR/held_out DIR/hair_edits --metrics
fid,kid` says how far those extrapolated edits are from real emoji (broken images score badly).

--judge MODEL2: read the attributes of the edited and real images with MODEL2's stored classifier instead
of MODEL's own (to compare two models' edits with one judge).

--figure OUT.png: the card's figure, the `gantrans edit --all` strip (current attributes read by the
stored classifier, then every single-attribute change) of four held-out emoji, one row each.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import gantrans
from gantrans.engine.edit import Editor
from gantrans.engine.pipeline import strip

FIGURE = ["1F3CA-1F3FF.png", "1F473.png", "1F9CD-1F3FD-200D-2640.png", "1F9D1-1F3FB-200D-1F3A8.png"]  # held-out bases


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", nargs="?", default="data/person_emoji", type=Path)
    ap.add_argument("--export", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--judge", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ed = Editor(gantrans.load(args.model, device="cpu", precision="fp32"))
    sch = ed.schema
    judge = Editor(gantrans.load(args.judge, device="cpu", precision="fp32")) if args.judge else ed
    manifest = json.loads((args.data / "manifest.json").read_text())
    index = {(v["base"], v["tone"], v["gender"], v["hair"]): k for k, v in manifest.items()}
    fields = {"tone": 0, "gender": 1, "hair": 2}

    def pixels(name: str) -> torch.Tensor:
        split = manifest[name]["split"]
        return torch.from_numpy(np.asarray(Image.open(args.data / split / "images" / name).convert("RGB")).copy()).permute(2, 0, 1)

    if args.export:
        for sub in ("model", "baseline", "real", "hair_edits", "held_out"):
            (args.export / sub).mkdir(parents=True, exist_ok=True)
    exported = hair_exported = 0

    def save(img: torch.Tensor, path: Path) -> None:
        Image.fromarray(img[0].permute(1, 2, 0).clamp(0, 255).to(torch.uint8).numpy()).save(path)

    l1 = defaultdict(lambda: {"model": [], "baseline": [], "changed": [], "kept": []})
    cls_edit = defaultdict(list)  # (group, requested value) -> read right; per group = all its values
    cls_real = defaultdict(list)
    for name, v in sorted(manifest.items()):
        held = v["split"] == "test"
        if not held and not (v["hair"] != "hair_default" or v["base"] == "1F9D1"):
            continue  # training images: only the plain-person base, for the hair L1
        x = pixels(name)[None]
        cur = torch.zeros(1, sch.n_attrs)
        for a in (v["tone"], v["gender"], v["hair"]):
            cur[0, sch.attrs[a].index] = 1.0
        if held:
            if args.export:
                save(x, args.export / "held_out" / name)
            pred = judge.predict(x)[0]
            for g in fields:
                ms = sch.groups[g]
                cls_real[g].append(ms[int(pred[[sch.attrs[m].index for m in ms]].argmax())] == v[g])
        for g, pos in fields.items():
            if held is False and g != "hair":
                continue
            for value in sch.groups[g]:
                if value == v[g]:
                    continue
                key = [v["base"], v["tone"], v["gender"], v["hair"]]
                key[1 + pos] = value
                trg = sch.target(cur[0], [(value, "1")])
                y = (ed.t.run(x, "a2b", trg[None]) * 255.0).round()
                if held:
                    p = judge.predict(y.to(torch.uint8))[0]
                    ms = sch.groups[g]
                    cls_edit[g, value].append(ms[int(p[[sch.attrs[m].index for m in ms]].argmax())] == value)
                true = index.get(tuple(key))
                if true is None:
                    if args.export and held and g == "hair":
                        save(y, args.export / "hair_edits" / f"{hair_exported:04d}.png")
                        hair_exported += 1
                    continue
                t = pixels(true)[None].float()
                tag = g if held else f"{g} (training base)"
                l1[tag]["model"].append(float((y - t).abs().mean()))
                err = (y - t).abs().mean(1)  # (1, H, W)
                changed = (x.float() - t).abs().amax(1) > 24  # (1, H, W): pixels the true edit changes
                l1[tag]["changed"].append(float((err * changed).mean()))
                l1[tag]["kept"].append(float((err * ~changed).mean()))
                l1[tag]["baseline"].append(float((x.float() - t).abs().mean()))
                if args.export and held:
                    for sub, img in (("model", y), ("baseline", x.float()), ("real", t)):
                        save(img, args.export / sub / f"{exported:04d}.png")
                    exported += 1
    out = {
        "held_out_images": sum(1 for v in manifest.values() if v["split"] == "test"),
        "held_out_bases": sorted({v["base"] for v in manifest.values() if v["split"] == "test"}),
        "l1_to_true_target": {
            g: {
                "edits": len(d["model"]), "model": round(float(np.mean(d["model"])), 2), "baseline_unedited": round(float(np.mean(d["baseline"])), 2),
                "model_from_changed_pixels": round(float(np.mean(d["changed"])), 2), "model_from_kept_pixels": round(float(np.mean(d["kept"])), 2),
            }  # fmt: skip
            for g, d in l1.items()
        },
        "classifier_accuracy_on_edited": {g: round(float(np.mean([r for (h, _), rs in cls_edit.items() if h == g for r in rs])), 3) for g in fields},
        "classifier_accuracy_on_edited_by_value": {f"{g}={v}": round(float(np.mean(rs)), 3) for (g, v), rs in sorted(cls_edit.items())},
        "classifier_accuracy_on_real_held_out": {g: round(float(np.mean(v)), 3) for g, v in cls_real.items()},
    }
    print(json.dumps(out, indent=1))
    if args.figure:
        rows = []  # each row: the `edit --all` strip of one held-out emoji, drawn by the engine's `strip`
        for name in FIGURE:
            x = pixels(name)[None]
            cur = ed.current(x, {}, [], 0)[0]
            ys = [(ed.t.run(x, "a2b", sch.target(cur, change, 0)[None]) * 255.0).round().to(torch.uint8) for change in sch.single_changes(cur, 0)]
            rows.append(strip([t[0].permute(1, 2, 0).numpy() for t in [x, *ys]]))
        fig = strip([r.transpose(1, 0, 2) for r in rows]).transpose(1, 0, 2)  # rows stacked, 2 px apart
        Image.fromarray(np.ascontiguousarray(fig)).save(args.figure)


if __name__ == "__main__":
    main()
