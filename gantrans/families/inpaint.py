"""Image completion (DeepFill v2): one generator `G` that fills the hole of an image given its mask, the
condition of the uniform forward (B, 1, H, W; 1 = hole). `gantrans inpaint` runs it and composites the
known pixels back exactly; `gantrans train PHOTOS --arch inpaint` trains it with free-form masks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gantrans.families.base import Converter, OneNetwork
from gantrans.registry import register_family

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gantrans.engine.convert import ConvertOptions, ConvertResult

# nipponjo/deepfillv2-pytorch, networks.py (nested blocks) -> the official (and gantrans') flat names
_PORT_STAGE1 = {
    "conv1": "conv1", "down_block1.conv1_downsample": "conv2_downsample", "down_block1.conv2": "conv3",
    "down_block2.conv1_downsample": "conv4_downsample", "down_block2.conv2": "conv5", "conv_bn1": "conv6",
    "conv_bn2": "conv7_atrous", "conv_bn3": "conv8_atrous", "conv_bn4": "conv9_atrous", "conv_bn5": "conv10_atrous",
    "conv_bn6": "conv11", "conv_bn7": "conv12", "up_block1.conv1_upsample.conv": "conv13_upsample", "up_block1.conv2": "conv14",
    "up_block2.conv1_upsample.conv": "conv15_upsample", "up_block2.conv2": "conv16", "conv_to_rgb": "conv17",
}
_PORT_STAGE2 = {
    "conv_conv1": "xconv1", "conv_down_block1.conv1_downsample": "xconv2_downsample", "conv_down_block1.conv2": "xconv3",
    "conv_down_block2.conv1_downsample": "xconv4_downsample", "conv_down_block2.conv2": "xconv5", "conv_conv_bn1": "xconv6",
    "conv_conv_bn2": "xconv7_atrous", "conv_conv_bn3": "xconv8_atrous", "conv_conv_bn4": "xconv9_atrous",
    "conv_conv_bn5": "xconv10_atrous", "ca_conv1": "pmconv1", "ca_down_block1.conv1_downsample": "pmconv2_downsample",
    "ca_down_block1.conv2": "pmconv3", "ca_down_block2.conv1_downsample": "pmconv4_downsample", "ca_down_block2.conv2": "pmconv5",
    "ca_conv_bn1": "pmconv6", "ca_conv_bn4": "pmconv9", "ca_conv_bn5": "pmconv10", "conv_bn6": "allconv11", "conv_bn7": "allconv12",
    "up_block1.conv1_upsample.conv": "allconv13_upsample", "up_block1.conv2": "allconv14",
    "up_block2.conv1_upsample.conv": "allconv15_upsample", "up_block2.conv2": "allconv16", "conv_to_rgb": "allconv17",
}  # fmt: skip


def _generator(obj: Any) -> dict[str, Any] | None:
    g = obj.get("G") if isinstance(obj, dict) else None
    return g if isinstance(g, dict) else (obj if isinstance(obj, dict) else None)


def _is_deepfill(obj: Any) -> bool:
    """DeepFill v2 generators of the most used PyTorch port: {'G': state dict, ...} in either of its layouts."""
    g = _generator(obj)
    return g is not None and (("conv1.conv.weight" in g and "pmconv1.conv.weight" in g) or "stage2.ca_conv1.conv.weight" in g)


def _rename(g: dict[str, Any], src: Path) -> tuple[dict[str, Any], str]:
    """(state dict under gantrans' names, padding) from either layout of the port."""
    from gantrans.io.checkpoint import CheckpointError

    if "conv1.conv.weight" in g:  # networks_tf.py: the official names; GDeConv nests one more .conv
        return {re.sub(r"_upsample\.conv\.conv\.", "_upsample.conv.", k): v for k, v in g.items()}, "same"
    out = {}
    for k, v in g.items():
        m = re.fullmatch(r"(stage[12])\.(.+)\.conv\.(weight|bias)", k)
        table = _PORT_STAGE1 if m and m.group(1) == "stage1" else _PORT_STAGE2
        if not m or m.group(2) not in table:
            raise CheckpointError(f"{src}: unexpected key {k!r} in a DeepFill v2 (networks.py) generator")
        out[f"{table[m.group(2)]}.conv.{m.group(3)}"] = v
    return out, "symmetric"


def _convert(sources: list[Path], opts: "ConvertOptions") -> "ConvertResult":
    from gantrans.engine.convert import ConvertResult
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import Checkpoint, load_strict
    from gantrans.io.weights import file_sha256, read_object
    from gantrans.models.registry import build_network, make_config

    if len(sources) != 1:
        raise UsageError("--from deepfill takes one file (states_tf_places2.pth or a fine-tuned states_pt_*.pth)")
    src = sources[0]
    g = _generator(read_object(src))
    if g is None or not _is_deepfill(g):
        from gantrans.io.checkpoint import CheckpointError

        raise CheckpointError(f"{src}: not a DeepFill v2 generator (expected 'G' with conv1/pmconv1 or stage1/stage2 keys)")
    sd, padding = _rename(g, src)
    first = sd["conv1.conv.weight"]  # (cnum, 5 (+1 sketch), 5, 5)
    values = {"cnum": int(first.shape[0]), "img_ch": int(sd["conv17.conv.weight"].shape[0]), "sketch": first.shape[1] == 6, "padding": padding}
    cfg = make_config("gated_inpaint", values)
    net = build_network("gated_inpaint", cfg)
    load_strict(net, sd, f"{src} [gated_inpaint, {values}]")
    ckpt = Checkpoint(
        arch="gated_inpaint", config=cfg, networks={"G": net}, domains=["image", "completed"],
        preprocess={"size": opts.size or 256, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance={"converted_from": opts.source, "sources": [{"file": src.name, "sha256": file_sha256(src), "role": "G"}]},
        license=opts.license,
    )  # fmt: skip
    layout = "networks_tf.py (the official TensorFlow weights, TF padding)" if padding == "same" else "networks.py (symmetric padding)"
    return ConvertResult(ckpt, [f"DeepFill v2 PyTorch port, {layout}: cnum {values['cnum']}, sketch channel {values['sketch']}"])


class InpaintFamily(OneNetwork):
    name = "inpaint"
    title = "image completion (DeepFill v2)"
    archs = ("gated_inpaint",)
    aux_archs = ("snpatchgan",)
    model_modules = ("gantrans.models.gated_inpaint", "gantrans.models.snpatchgan")
    role = "inpainter"
    cond = "mask"
    commands = frozenset({"inpaint", "export"})
    recipes = {"inpaint": "gantrans.train.inpaint:InpaintRecipe"}
    converters = {
        "deepfill": Converter("deepfill", "states_tf_places2.pth / states_pt_*.pth (DeepFill v2, nipponjo/deepfillv2-pytorch)",
                              _is_deepfill, _convert, default_size=256, domains=0),
    }  # fmt: skip

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return "an inpainting model has one direction: image with a hole to the completed image (a2b)"

    def channels(self, config: Any, direction: str) -> tuple[int, int]:
        return config.img_ch, config.img_ch

    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        """x: normalised image, reflect-padded; cond: the unpadded mask -> padded by the same reflection, so the
        pixels mirrored from the hole are hole too (as known pixels they would bring the removed content back)."""
        from gantrans.models.layers import pad_to

        assert cond is not None
        return gen(x, pad_to(cond, x.shape[-2], x.shape[-1]))

    def cond_hint(self) -> str:
        return "a mask (B, 1, H, W), 1 = hole"

    def example_cond(self, t: Any, n: int, seed: int) -> "torch.Tensor | None":
        import torch

        return self.example_cond_like(t, torch.zeros(n, 1, 64, 64), seed)

    def example_cond_like(self, t: Any, x: "torch.Tensor", seed: int) -> "torch.Tensor | None":
        """A seeded box hole in each image of the batch `x`."""
        import torch

        gen = torch.Generator().manual_seed(seed)
        n, _, h, w = x.shape
        m = torch.zeros(n, 1, h, w)
        for i in range(n):
            y0, x0 = int(torch.randint(0, h // 2, (1,), generator=gen)), int(torch.randint(0, w // 2, (1,), generator=gen))
            m[i, :, y0 : y0 + h // 2, x0 : x0 + w // 2] = 1
        return m

    def cond_axes(self) -> dict[int, str]:
        return {0: "batch", 2: "height", 3: "width"}

    init_default = "official"

    def init(self, net: "nn.Module", init: str) -> "nn.Module":
        """official: as the TensorFlow code's tf.layers.conv2d (no initializer given): Glorot-uniform kernels,
        zero biases, for the generator and the SN-PatchGAN (its spectral norm wraps the same kernels).
        PyTorch's default is ~1.7x smaller for a 3x3 layer. (A 300-step CPU probe learned about as fast with
        either: held-out hole L1 38.0 vs 38.9; this is for fidelity to the reference, not a measured gain. With
        either, each gated layer passes on about a third of its input's std, so the output starts at ~3e-8:
        `--set init_type=kaiming` learns much faster, see scripts/train_inpaint_gpu.sh.)"""
        import torch
        from torch import nn

        from gantrans.models.layers import stored_weight

        if init != "official":
            net = super().init(net, init)
        else:
            with torch.no_grad():
                for m in net.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.xavier_uniform_(stored_weight(m))
                        if m.bias is not None:
                            nn.init.zeros_(m.bias)
        if getattr(getattr(net, "config", None), "prefill", "zero") != "zero":
            # residual stages: zero output layers make the untrained generator the diffusion fill itself
            with torch.no_grad():
                for name in ("conv17", "allconv17"):
                    layer: nn.Conv2d = getattr(net, name).conv
                    nn.init.zeros_(layer.weight)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)
        return net


register_family(InpaintFamily())
