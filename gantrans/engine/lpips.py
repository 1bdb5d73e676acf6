"""LPIPS distance (Zhang et al. 2018) and the diversity score of multimodal outputs (MUNIT, BicycleGAN).

The backbone is a torchvision VGG-16 or AlexNet weights file the user supplies (nothing is
downloaded). Each tap is unit-normalised over channels, the squared difference is weighted per
channel -- by the LPIPS linear layers when their file (`lin0.model.1.weight`, ...) is given, else by
ones (the paper's un-learned baseline) -- then averaged over space and summed over taps.
Inputs are scaled to [-1, 1] and shifted/scaled as LPIPS's ScalingLayer does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import torch

from gantrans.errors import UsageError
from gantrans.io.weights import read_features, read_weights

# torchvision `features` indices of the ReLU outputs LPIPS taps
TAPS = {"vgg16": (3, 8, 15, 22, 29), "alexnet": (1, 4, 7, 9, 11)}
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPS(torch.nn.Module):
    """d(x, y) for (N, 3, H, W) images in [0, 1] -> (N,) distances."""

    def __init__(self, backbone: str | Path, lin: str | Path | None = None, net: str | None = None) -> None:
        super().__init__()
        import torchvision

        state = read_features(Path(backbone))
        if not state:
            raise UsageError(f"{backbone}: expected a torchvision VGG-16 or AlexNet state dict (features.N.weight keys)")
        if net is None:  # AlexNet's first conv is 11x11, VGG's 3x3
            net = "alexnet" if state["0.weight"].shape[-1] == 11 else "vgg16"
        if net not in TAPS:
            raise UsageError(f"LPIPS backbone must be vgg16 or alexnet, got {net!r}")
        feats = getattr(torchvision.models, net)(weights=None).features[: TAPS[net][-1] + 1]
        feats.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) <= TAPS[net][-1]}, strict=True)
        self.net, self.taps = net, TAPS[net]
        self.features = feats.eval().requires_grad_(False)
        widths = [feats[i - 1].out_channels for i in self.taps]
        self.learned = lin is not None
        weights = [torch.ones(c) for c in widths]
        if lin is not None:
            found = {int(m.group(1)): v for k, v in read_weights(Path(lin)).items() if (m := re.fullmatch(r"lin(\d)\.model\.1\.weight", k))}
            if sorted(found) != list(range(len(widths))):
                raise UsageError(f"{lin}: expected LPIPS linear layers lin0..lin{len(widths) - 1} (lin*.model.1.weight)")
            weights = [found[i].flatten().float() for i in range(len(widths))]
        for i, (w, c) in enumerate(zip(weights, widths)):
            if w.numel() != c:
                raise UsageError(f"LPIPS layer {i}: {w.numel()} weights for {c} channels (wrong backbone for this file?)")
            self.register_buffer(f"w{i}", w.view(1, -1, 1, 1))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x * 2 - 1) - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], device=x.device)
        for i, (a, b) in enumerate(zip(self._taps(x), self._taps(y))):
            total = total + ((a - b).pow(2) * getattr(self, f"w{i}")).sum(1).mean((1, 2))
        return total


def group_samples(files: Sequence[Path], root: Path) -> dict[str, list[Path]]:
    """style-sample outputs `{stem}_{tag}.png` grouped by input: the name up to its last `_`."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for f in sorted(files):
        rel = f.relative_to(root).with_suffix("").as_posix()
        key = rel.rsplit("_", 1)[0] if "_" in f.stem else rel
        groups[key].append(f)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def diversity(
    groups: dict[str, list[Path]], model: LPIPS, load: Callable[[Path], torch.Tensor],
    device: torch.device, progress: Callable[[int], None] | None = None,
) -> dict[str, float | int]:
    """Mean LPIPS between consecutive samples of each input (K samples -> K-1 pairs: MUNIT's 19 of 20)."""
    model.to(device)
    per_input = []
    pairs = 0
    for i, files in enumerate(groups.values()):
        imgs = [load(f) for f in files]
        if len({t.shape for t in imgs}) != 1:
            raise UsageError(f"samples of one input differ in size: {files[0].name} ...")
        x = torch.stack(imgs).to(device)
        d = model(x[:-1], x[1:])
        per_input.append(float(d.mean()))
        pairs += d.numel()
        if progress:
            progress(i + 1)
    if not per_input:
        raise UsageError("diversity needs at least two samples per input ({stem}_{tag} files, as style-sample writes)")
    t = torch.tensor(per_input, dtype=torch.float64)
    return {"lpips_diversity": round(float(t.mean()), 5), "lpips_diversity_std": round(float(t.std()), 5) if len(per_input) > 1 else 0.0,
            "diversity_inputs": len(per_input), "diversity_pairs": pairs}
