"""Super-resolution (ESRGAN / Real-ESRGAN): one generator `G` that maps [0, 1] images to [0, 1] images
`scale` times larger; `gantrans upscale` runs it. Converters read BasicSR files (`params_ema` preferred over
`params`, or a bare state dict) for RRDBNet (x4plus, x2plus, anime_6B, RealESRNet) and SRVGGNetCompact
(realesr-animevideov3, realesr-general-x4v3), inferring scale, blocks and widths from the shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gantrans.families.base import Converter, OneNetwork
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
    return sd is not None and (("conv_first.weight" in sd and "body.0.rdb1.conv1.weight" in sd and "conv_hr.weight" in sd)
                               or _is_old_esrgan(sd))  # fmt: skip


def _is_old_esrgan(sd: dict[str, Any]) -> bool:
    """The original ESRGAN repository's layout (many community models): model.0, model.1.sub.N.RDBk.convj.0, ..."""
    return "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd


# old ESRGAN x4: 0 conv_first, 1 ShortcutBlock(sub: RRDBs + conv_body), 2 up, 3 conv, 4 lrelu, 5 up, 6 conv,
# 7 lrelu, 8 HR conv, 9 lrelu, 10 last conv
_OLD_TAIL = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2", "model.8": "conv_hr", "model.10": "conv_last"}


def _from_old_esrgan(sd: dict[str, Any], src: Path) -> dict[str, Any]:
    """Rename an old-layout x4 ESRGAN state dict to BasicSR's names (the same network)."""
    from gantrans.io.checkpoint import CheckpointError

    nb = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.", k)))
    if "model.10.weight" not in sd or "model.6.weight" not in sd:
        raise CheckpointError(f"{src}: an old-layout ESRGAN file that is not x4 (model.3/6/8/10); only x4 is supported in this layout")
    out = {}
    for k, v in sd.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", k):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = v
        elif m := re.fullmatch(rf"model\.1\.sub\.{nb}\.(weight|bias)", k):
            out[f"conv_body.{m.group(1)}"] = v
        elif (m := re.fullmatch(r"(model\.\d+)\.(weight|bias)", k)) and m.group(1) in _OLD_TAIL:
            out[f"{_OLD_TAIL[m.group(1)]}.{m.group(2)}"] = v
        else:
            raise CheckpointError(f"{src}: unexpected key {k!r} in an old-layout ESRGAN file")
    return out


def _is_srvgg(obj: Any) -> bool:
    sd = _state(obj)
    return sd is not None and "body.0.weight" in sd and "body.1.weight" in sd and sd["body.1.weight"].dim() == 1


def _is_msrresnet(obj: Any) -> bool:
    sd = _state(obj)
    return sd is not None and "conv_first.weight" in sd and "body.0.conv1.weight" in sd and "upconv1.weight" in sd


def _is_srgan(obj: Any) -> bool:
    """leftthomas/SRGAN generator checkpoints (plain state dicts): block1.0 9x9 conv, block2.conv1, ..."""
    sd = _state(obj)
    return sd is not None and "block1.0.weight" in sd and "block2.conv1.weight" in sd and "block2.bn1.running_mean" in sd


Layout = tuple[dict[str, Any], dict[str, Any], list[str]]  # (state dict, config values, notes for the user)


def _count(sd: dict[str, Any], pattern: str) -> int:
    """How many distinct indices `pattern`'s first group takes over the keys (blocks, stages)."""
    return len({int(m.group(1)) for k in sd if (m := re.match(pattern, k))})


def _rrdbnet_layout(sd: dict[str, Any], src: Path) -> Layout:
    from gantrans.io.checkpoint import CheckpointError

    notes = []
    if _is_old_esrgan(sd):
        sd = _from_old_esrgan(sd, src)
        notes.append("original ESRGAN layout (model.N / RDBk) renamed to BasicSR's")
    if not _is_rrdbnet(sd):
        raise CheckpointError(f"{src}: not a BasicSR RRDBNet state dict (expected conv_first, body.N.rdb1.conv1, conv_hr)")
    in_ch = sd["conv_first.weight"].shape[1]
    unshuffle = {1: 1, 3: 1, 4: 2, 12: 2, 16: 4, 48: 4}.get(in_ch)
    if unshuffle is None:
        raise CheckpointError(f"{src}: conv_first takes {in_ch} channels; expected 3 (x4), 12 (x2) or 48 (x1) for RGB")
    values = {
        "num_in_ch": in_ch // unshuffle**2, "num_out_ch": sd["conv_last.weight"].shape[0], "scale": {1: 4, 2: 2, 4: 1}[unshuffle],
        "num_feat": sd["conv_first.weight"].shape[0], "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
        "num_block": _count(sd, r"body\.(\d+)\."),
    }  # fmt: skip
    return sd, values, notes


def _msrresnet_layout(sd: dict[str, Any], src: Path) -> Layout:
    from gantrans.io.checkpoint import CheckpointError

    if not _is_msrresnet(sd):
        raise CheckpointError(f"{src}: not a BasicSR MSRResNet state dict (expected conv_first, body.N.conv1, upconv1)")
    f = sd["conv_first.weight"].shape[0]
    values = {
        "num_in_ch": sd["conv_first.weight"].shape[1], "num_out_ch": sd["conv_last.weight"].shape[0], "num_feat": f,
        "num_block": _count(sd, r"body\.(\d+)\."),
        "upscale": 4 if "upconv2.weight" in sd else round((sd["upconv1.weight"].shape[0] // f) ** 0.5),
    }  # fmt: skip
    return sd, values, []


def _srgan_layout(sd: dict[str, Any], src: Path) -> Layout:
    from gantrans.io.checkpoint import CheckpointError

    if not _is_srgan(sd):
        raise CheckpointError(f"{src}: not an SRGAN generator state dict (expected block1.0, block2.conv1, block2.bn1)")
    last = max(int(m.group(1)) for k in sd if (m := re.match(r"block(\d+)\.", k)))  # block{n+3}: upsampling + last conv
    tail = [k for k in sd if re.fullmatch(rf"block{last}\.\d+\.weight", k)]  # the last conv (stages have .conv.)
    values = {
        "num_in_ch": sd["block1.0.weight"].shape[1], "num_feat": sd["block1.0.weight"].shape[0], "num_block": last - 3,
        "scale": 2 ** _count(sd, rf"block{last}\.(\d+)\.conv\."), "num_out_ch": sd[tail[0]].shape[0],
    }  # fmt: skip
    return sd, values, []


def _srvgg_layout(sd: dict[str, Any], src: Path) -> Layout:
    from gantrans.io.checkpoint import CheckpointError

    if not _is_srvgg(sd):
        raise CheckpointError(f"{src}: not a BasicSR SRVGGNetCompact state dict with PReLU (expected body.0 conv, body.1 PReLU)")
    convs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and sd[k].dim() == 4)
    last = sd[f"body.{convs[-1]}.weight"]
    ch = sd["body.0.weight"].shape[1]  # the released models are RGB -> RGB
    scale = round((last.shape[0] / ch) ** 0.5)
    if scale * scale * ch != last.shape[0]:
        raise CheckpointError(f"{src}: the last conv has {last.shape[0]} channels, not {ch} x scale^2")
    values = {"num_in_ch": ch, "num_out_ch": ch, "num_feat": sd["body.0.weight"].shape[0], "num_conv": len(convs) - 2, "upscale": scale}
    return sd, values, []


def _convert(src: Path, opts: "ConvertOptions", arch: str, read: Callable[[dict[str, Any], Path], Layout]) -> "ConvertResult":
    from gantrans.engine.convert import ConvertResult
    from gantrans.io.checkpoint import Checkpoint, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, make_config

    sd, values, notes = read(read_official(src), src)
    cfg = make_config(arch, values)
    net = build_network(arch, cfg)
    # files from PyTorch < 0.4 have no batch-norm step counters (unused at inference)
    sd = dict(sd) | {k: v for k, v in net.state_dict().items() if k.endswith("num_batches_tracked") and k not in sd}
    load_strict(net, dict(sd), f"{src} [{arch}, {values}]")
    scale = values.get("scale", values.get("upscale"))
    ckpt = Checkpoint(
        arch=arch, config=cfg, networks={"G": net}, domains=["LR", "HR"], preprocess=dict(SR_PREPROCESS),
        provenance={"converted_from": opts.source, "sources": [{"file": src.name, "sha256": file_sha256(src), "role": "G"}]},
        license=opts.license,
    )  # fmt: skip
    inferred = notes + [f"{arch}: x{scale}, " + ", ".join(f"{k}={v}" for k, v in values.items())]
    return ConvertResult(ckpt, inferred)


def _one(arch: str, read: Callable[[dict[str, Any], Path], Layout]):
    def convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
        from gantrans.errors import UsageError

        if len(sources) != 1:
            raise UsageError(f"--from {opts.source} takes one file (a BasicSR .pth)")
        return _convert(sources[0], opts, arch, read)

    return convert


class SRFamily(OneNetwork):
    name = "sr"
    title = "super-resolution (ESRGAN/Real-ESRGAN)"
    archs = ("rrdbnet", "srvgg_compact", "srresnet", "msrresnet")
    aux_archs = ("srgan_d", "vgg_style_d", "unet_sn")
    model_modules = (
        "gantrans.models.rrdbnet", "gantrans.models.srvgg", "gantrans.models.srresnet", "gantrans.models.msrresnet",
        "gantrans.models.srgan_d", "gantrans.models.vgg_style_d", "gantrans.models.unet_sn",
    )  # fmt: skip
    role = "upscaler"
    output_range = "unit"
    tiling = "padcrop"  # no global statistics: Real-ESRGAN's pad-and-crop tiles, seam-free
    commands = frozenset({"upscale", "export"})
    init_default = "official"
    recipes = {
        "srresnet": "gantrans.train.sr:SRResNetRecipe", "srgan": "gantrans.train.sr:SRGANRecipe",
        "esrgan": "gantrans.train.sr:ESRGANRecipe", "realesrnet": "gantrans.train.sr:RealESRNetRecipe",
        "realesrgan": "gantrans.train.sr:RealESRGANRecipe",
    }  # fmt: skip
    converters = {
        "esrgan": Converter("esrgan", "RealESRGAN_x4plus.pth / x2plus / anime_6B / RealESRNet (BasicSR RRDBNet)", _is_rrdbnet,
                            _one("rrdbnet", _rrdbnet_layout), default_size=0, domains=0),
        "msrresnet": Converter("msrresnet", "MSRResNet files of BasicSR (x2/x3/x4)", _is_msrresnet,
                               _one("msrresnet", _msrresnet_layout), default_size=0, domains=0),
        "srgan": Converter("srgan", "netG_epoch_4_100.pth (leftthomas/SRGAN generator)", _is_srgan,
                           _one("srresnet", _srgan_layout), default_size=0, domains=0),
        "srvgg": Converter("srvgg", "realesr-animevideov3.pth / realesr-general-x4v3.pth (BasicSR SRVGGNetCompact)", _is_srvgg,
                           _one("srvgg_compact", _srvgg_layout), default_size=0, domains=0),
    }  # fmt: skip

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return "a super-resolution model has one direction: low to high resolution (a2b)"

    def scale(self, config: Any) -> int:
        return int(config.scale)

    def preprocess(self, size: int) -> dict[str, Any] | None:
        return dict(SR_PREPROCESS)



register_family(SRFamily())
