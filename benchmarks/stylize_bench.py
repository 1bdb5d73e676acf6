"""PhotoWCT stylisation speed and memory per smoothing mode, on scikit-image's photos.

The network is the full-size PhotoWCT (8,349,948 parameters, the photo_wct.pth layout) with seeded
weights: speed does not depend on the weight values, and real weights are not available offline.

    python benchmarks/stylize_bench.py [--sizes 256,512] [--device cpu] [--precision fp32]

Prints a table and rewrites the section "stylize: photowct, <device>, <precision>" of RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.translate_bench import write_section  # noqa: E402
from gantrans.engine.smooth import matting_propagate  # noqa: E402
from gantrans.engine.stylize import StylizeOptions, Stylizer  # noqa: E402
from gantrans.io.checkpoint import Checkpoint  # noqa: E402
from gantrans.models import build_network, make_config  # noqa: E402
from gantrans.train.wct import random_encoders  # noqa: E402


def photo(name: str) -> Image.Image:
    for f in importlib.metadata.files("scikit-image") or []:
        if str(f).endswith(f"skimage/data/{name}"):
            return Image.open(f.locate()).convert("RGB")
    raise SystemExit(f"scikit-image's data/{name} not found (pip install scikit-image)")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--results", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = make_config("photowct")
    net = build_network("photowct", cfg)
    random_encoders(net)
    ck = Checkpoint(arch="photowct", config=cfg, networks={"G": net}, domains=["content"], preprocess={"size": 0, "mean": [0.0] * 3, "std": [1.0] * 3})
    s = Stylizer(ck, device=args.device, precision=args.precision)
    content, style_img = photo("astronaut.png"), photo("coffee.png")
    rows = []
    for side in [int(v) for v in args.sizes.split(",")]:
        c = np.asarray(content.resize((side, side), Image.Resampling.BICUBIC))
        style = s.prepare_style(style_img, max_size=side)
        s.stylize_arrays([c], style, StylizeOptions(smooth="none", max_size=None))  # warm-up
        for mode in ("none", "fast", "exact"):
            t0 = time.perf_counter()
            out = s.stylize_arrays([c], style, StylizeOptions(smooth=mode, max_size=None))[0]
            sec = time.perf_counter() - t0
            note = ""
            if mode == "exact":  # the solver's own figures
                x = torch.from_numpy(c.copy()).permute(2, 0, 1)[None].float() / 255
                y = torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255
                t1 = time.perf_counter()
                _, info = matting_propagate(x.to(s.device), y.to(s.device))  # the default tolerance, as stylize
                note = f"CG {info.iterations} it to {info.residual:.1e} in {time.perf_counter() - t1:.2f} s"
            rows.append((f"{side}x{side}", mode, sec, note))
            print(f"{side}x{side} {mode:5s} {sec:7.2f} s  {note}", flush=True)
    rss = peak_rss_gib()
    dev = torch.cuda.get_device_name() if s.device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    body = [
        f"`python benchmarks/stylize_bench.py --sizes {args.sizes} --device {args.device} --precision {args.precision}` "
        f"({dev}; torch {torch.__version__}). Content astronaut.png resized square, style coffee.png; one image per call, "
        "transform (4 levels, WCT in float64) + smoothing, wall time after one warm-up.",
        "",
        "| size | smooth | seconds | notes |",
        "|---|---|---|---|",
        *[f"| {a} | {m} | {t:.2f} | {n} |" for a, m, t, n in rows],
        "",
        f"Peak RSS of the whole run: {rss:.2f} GiB.",
    ]
    write_section(Path(args.results), f"stylize: photowct, {s.device.type}, {args.precision}", "\n".join(body))
    print(f"peak RSS {rss:.2f} GiB")


if __name__ == "__main__":
    main()
