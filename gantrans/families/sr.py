"""Super-resolution (ESRGAN / Real-ESRGAN): one generator `G` that maps [0, 1] images to [0, 1] images
`scale` times larger; `gantrans upscale` runs it. Converters read BasicSR files (`params_ema` preferred over
`params`, or a bare state dict) for RRDBNet (x4plus, x2plus, anime_6B, RealESRNet) and SRVGGNetCompact
(realesr-animevideov3, realesr-general-x4v3), inferring scale, blocks and widths from the shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    from gantrans.engine.convert import ConvertOptions, ConvertResult

SR_PREPROCESS = {"size": 0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # [0, 1] in, any size


def _state(obj: Any) -> dict[str, Any] | None:
    """The state dict inside a BasicSR file object (EMA weights first), or None."""
    if not isinstance(obj, dict):
        return None
    for key in ("params_ema", "params"):
        if isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def _is_rrdbnet(obj: Any) -> bool:
    sd = _state(obj)
    return sd is not None and "conv_first.weight" in sd and "body.0.rdb1.conv1.weight" in sd and "conv_hr.weight" in sd


def _is_srvgg(obj: Any) -> bool:
    sd = _state(obj)
    return sd is not None and "body.0.weight" in sd and "body.1.weight" in sd and sd["body.1.weight"].dim() == 1


def _convert(src: Path, opts: "ConvertOptions", arch: str) -> "ConvertResult":
    from gantrans.engine.convert import ConvertResult
    from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, make_config

    sd = read_official(src)
    if arch == "rrdbnet":
        if not _is_rrdbnet(sd):
            raise CheckpointError(f"{src}: not a BasicSR RRDBNet state dict (expected conv_first, body.N.rdb1.conv1, conv_hr)")
        in_ch = sd["conv_first.weight"].shape[1]
        out_ch = sd["conv_last.weight"].shape[0]
        unshuffle = {1: 1, 3: 1, 4: 2, 12: 2, 16: 4, 48: 4}.get(in_ch)
        if unshuffle is None:
            raise CheckpointError(f"{src}: conv_first takes {in_ch} channels; expected 3 (x4), 12 (x2) or 48 (x1) for RGB")
        values = {
            "num_in_ch": in_ch // unshuffle**2, "num_out_ch": out_ch, "scale": {1: 4, 2: 2, 4: 1}[unshuffle],
            "num_feat": sd["conv_first.weight"].shape[0], "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
            "num_block": len({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))}),
        }  # fmt: skip
    else:
        if not _is_srvgg(sd):
            raise CheckpointError(f"{src}: not a BasicSR SRVGGNetCompact state dict with PReLU (expected body.0 conv, body.1 PReLU)")
        convs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and sd[k].dim() == 4)
        last = sd[f"body.{convs[-1]}.weight"]
        in_ch = sd["body.0.weight"].shape[1]
        out_ch = in_ch  # the released models are RGB -> RGB
        scale = round((last.shape[0] / out_ch) ** 0.5)
        if scale * scale * out_ch != last.shape[0]:
            raise CheckpointError(f"{src}: the last conv has {last.shape[0]} channels, not {out_ch} x scale^2")
        values = {"num_in_ch": in_ch, "num_out_ch": out_ch, "num_feat": sd["body.0.weight"].shape[0],
                  "num_conv": len(convs) - 2, "upscale": scale}  # fmt: skip
    cfg = make_config(arch, values)
    net = build_network(arch, cfg)
    load_strict(net, dict(sd), f"{src} [{arch}, {values}]")
    scale = values.get("scale", values.get("upscale"))
    ckpt = Checkpoint(
        arch=arch, config=cfg, networks={"G": net}, domains=["LR", "HR"], preprocess=dict(SR_PREPROCESS),
        provenance={"converted_from": opts.source, "sources": [{"file": src.name, "sha256": file_sha256(src), "role": "G"}]},
        license=opts.license,
    )  # fmt: skip
    inferred = [f"{arch}: x{scale}, " + ", ".join(f"{k}={v}" for k, v in values.items())]
    return ConvertResult(ckpt, inferred)


def _one(arch: str):
    def convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
        from gantrans.errors import UsageError

        if len(sources) != 1:
            raise UsageError(f"--from {opts.source} takes one file (a BasicSR .pth)")
        return _convert(sources[0], opts, arch)

    return convert


class SRFamily(Family):
    name = "sr"
    title = "super-resolution (ESRGAN/Real-ESRGAN)"
    archs = ("rrdbnet", "srvgg_compact")
    model_modules = ("gantrans.models.rrdbnet", "gantrans.models.srvgg")
    role = "upscaler"
    output_range = "unit"
    tiling = "padcrop"  # no global statistics: Real-ESRGAN's pad-and-crop tiles, seam-free
    commands = frozenset({"upscale"})
    init_default = "kaiming"
    converters = {
        "esrgan": Converter("esrgan", "RealESRGAN_x4plus.pth / x2plus / anime_6B / RealESRNet (BasicSR RRDBNet)", _is_rrdbnet,
                            _one("rrdbnet"), default_size=0, domains=0),
        "srvgg": Converter("srvgg", "realesr-animevideov3.pth / realesr-general-x4v3.pth (BasicSR SRVGGNetCompact)", _is_srvgg,
                           _one("srvgg_compact"), default_size=0, domains=0),
    }  # fmt: skip

    def networks(self, directions: Sequence[str]) -> list[str]:
        return ["G"]

    def directions(self, networks: Sequence[str]) -> list[str]:
        return ["a2b"] if "G" in networks else []

    def network(self, direction: str) -> str:
        return "G"

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return "a super-resolution model has one direction: low to high resolution (a2b)"

    def scale(self, config: Any) -> int:
        return int(config.scale)

    def preprocess(self, size: int) -> dict[str, Any] | None:
        return dict(SR_PREPROCESS)


register_family(SRFamily())
