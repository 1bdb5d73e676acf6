"""Export a model's generator to ONNX, pre/post-processing included, with dynamic batch and size.

Inputs and outputs are images in [0, 1], (B, C, H, W) float32; H and W must be multiples of the
model's pad multiple (4 for ResNet/MUNIT/UNIT/StarGAN, 2**num_downs for U-Net, 8 for DeepFill). MUNIT takes
its style code as a second input `style` (B, style_dim, 1, 1), StarGAN its target labels `label` (B, c_dim),
DeepFill its hole `mask` (B, 1, H, W; 1 = hole; the output is the whole generated frame, to be composited).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from gantrans.engine.translator import Translator
from gantrans.errors import UsageError


class _Exported(nn.Module):
    """[0, 1] image (+ condition) -> [0, 1] image through one direction of the model."""

    def __init__(self, t: Translator, direction: str) -> None:
        super().__init__()
        self.gen = t.generator(direction)
        self.family, self.direction = t.family, direction
        mean, std = t.norm_stats(t.channels(direction)[0])
        self.register_buffer("mean", mean.detach().cpu().float().clone())
        self.register_buffer("std", std.detach().cpu().float().clone())

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        y = self.family.forward(self.gen, (x - self.mean) / self.std, self.direction, cond)
        return self.family.to_unit(y)


def export_onnx(t: Translator, path: str | Path, direction: str = "a2b", opset: int = 17, size: int = 64) -> dict:
    """Write `path` (.onnx); returns a description of its inputs and outputs."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UsageError("ONNX export needs the onnx package: pip install 'gantrans[onnx]'") from None
    if "export" not in t.family.commands:
        raise UsageError(f"{t.arch} models cannot be exported")
    module = _Exported(t, direction).eval().float().cpu()
    n_in = t.channels(direction)[0]
    m = t.multiple
    size = max(m, -(-size // m) * m)
    x = torch.rand(2, n_in, size, size)
    names, args, axes = ["image"], [x], {"image": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}}
    example = t.family.example_cond_like(t, x, 0)
    if example is not None:  # the graph's second input: "style" (B, style_dim, 1, 1), "label" (B, c_dim), "mask" (B, 1, H, W)
        names.append(t.family.cond_name())
        args.append(example)
        axes[t.family.cond_name()] = t.family.cond_axes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter's advisories (constant folding, tracer notes) are not the user's business
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module, tuple(args), str(path), input_names=names, output_names=["output"], dynamic_axes=axes,
            opset_version=opset, dynamo=False,
        )  # fmt: skip
    return {"inputs": {n: list(a.shape[1:]) for n, a in zip(names, args)}, "output_channels": t.channels(direction)[1], "multiple": m}


def verify_onnx(t: Translator, path: str | Path, direction: str = "a2b") -> float | None:
    """Max abs difference between onnxruntime and PyTorch on a random batch of two sizes (None: no onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for h, w in ((t.multiple * 3, t.multiple * 5), (t.multiple * 4, t.multiple * 4)):
        h, w = max(h, t.padded(1)), max(w, t.padded(1))
        x = torch.rand(2, t.channels(direction)[0], h, w, generator=gen)
        feeds = {"image": x.numpy()}
        cond = t.family.example_cond_like(t, x, int(torch.randint(0, 2**31, (1,), generator=gen)))
        if cond is not None:
            feeds[t.family.cond_name()] = cond.numpy()
        y = torch.from_numpy(session.run(None, feeds)[0])
        worst = max(worst, float((y - t.run(x, direction, cond).cpu()).abs().max()))
    return worst
