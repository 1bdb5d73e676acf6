"""PhotoWCT / WCT: VGG-19 encoders and their inverting decoders for closed-form style transfer
(`gantrans stylize`, `gantrans.stylizer`). One network `G`; not a translator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    from gantrans.engine.convert import ConvertOptions, ConvertResult


def _convert_one(src: Path, opts: "ConvertOptions") -> "ConvertResult":
    """FastPhotoStyle `photo_wct.pth` (80 tensors) -> a `photowct` checkpoint."""
    from gantrans.engine.convert import ConvertResult
    from gantrans.engine.convert_wct import WCT_PREPROCESS
    from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, make_config

    state = read_official(src)
    levels = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"e(\d)\.conv0\.weight", k)))
    if not levels or levels != list(range(1, len(levels) + 1)) or "e1.conv1_1.weight" not in state:
        raise CheckpointError(f"{src}: not a PhotoWCT state dict (expected e1..e4 / d1..d4 keys, e.g. e1.conv0.weight)")
    base = state["e1.conv1_1.weight"].shape[0]
    cfg = make_config("photowct", {"levels": len(levels), "base": base})
    net = build_network("photowct", cfg)
    load_strict(net, state, f"{src} [G, arch=photowct, config={cfg}]")
    notes = [f"{src.name}: {len(levels)} encoder/decoder levels, VGG width {base}, max-unpooling decoders ({len(state)} tensors)"]
    ckpt = Checkpoint(
        arch="photowct", config=cfg, networks={"G": net}, domains=["content"], preprocess=dict(WCT_PREPROCESS),
        provenance={"converted_from": "photowct", "sources": [{"file": src.name, "sha256": file_sha256(src), "role": "G"}]},
        license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)


def convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
    from gantrans.errors import UsageError

    if len(sources) != 1:
        raise UsageError("--from photowct takes one photo_wct.pth file")
    return _convert_one(sources[0], opts)


def _is_photowct(obj: Any) -> bool:
    return isinstance(obj, dict) and "e1.conv0.weight" in obj and "e1.conv1_1.weight" in obj


class WCTFamily(Family):
    name = "wct"
    title = "PhotoWCT/WCT"
    archs = ("photowct", "wct")
    model_modules = ("gantrans.models.wct",)
    role = "stylizer"
    commands = frozenset({"stylize"})
    recipes = {"wct-decoder": "gantrans.train.wct:WCTDecoder"}
    converters = {"photowct": Converter("photowct", "photo_wct.pth (PhotoWCT)", _is_photowct, convert, domains=0)}


register_family(WCTFamily())
