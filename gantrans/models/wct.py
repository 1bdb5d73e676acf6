"""WCT / PhotoWCT: VGG-19 encoders to relu1_1 ... relu4_1 and their mirror decoders.

Layout and names follow FastPhotoStyle's `models.py`, so `photo_wct.pth` loads key for key
(80 tensors, 8,349,948 parameters): one encoder/decoder pair per level, `e1..e4` / `d1..d4`.
- Encoder L: `conv0` (1x1, 3->3: folds the VGG input normalisation into the network, so inputs are
  RGB in [0, 1]), then the VGG-19 3x3 convolutions up to `convL_1`, each after a 1-pixel reflection
  pad and followed by ReLU; 2x2 max pools between blocks.
- Decoder L: the mirror image (`convL_1` first, `conv1_1` last with no ReLU). PhotoWCT decoders
  undo each pool with max-unpooling at the encoder's argmax indices (the "photo" part: edges stay
  where they were); WCT decoders (Li et al. 2017) upsample with nearest neighbour instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantrans.errors import UsageError
from gantrans.models.registry import ArchSpec, register

# The VGG-19 trunk up to conv4_1: ("conv", name) or ("pool", k). Channel multipliers of `base`
# (0 means the RGB input).
_TRUNK: list[tuple[str, str]] = [
    ("conv", "1_1"), ("conv", "1_2"), ("pool", "1"), ("conv", "2_1"), ("conv", "2_2"), ("pool", "2"),
    ("conv", "3_1"), ("conv", "3_2"), ("conv", "3_3"), ("conv", "3_4"), ("pool", "3"), ("conv", "4_1"),
]  # fmt: skip
_CHANNELS = {"1_1": (0, 1), "1_2": (1, 1), "2_1": (1, 2), "2_2": (2, 2), "3_1": (2, 4),
             "3_2": (4, 4), "3_3": (4, 4), "3_4": (4, 4), "4_1": (4, 8)}  # fmt: skip
MAX_LEVELS = 4

# Pooling record handed from an encoder to its decoder: (argmax indices, pre-pool size) per pool.
Pools = list[tuple[torch.Tensor, torch.Size]]


def _trunk(level: int) -> list[tuple[str, str]]:
    end = next(i for i, (kind, name) in enumerate(_TRUNK) if kind == "conv" and name == f"{level}_1")
    return _TRUNK[: end + 1]


@dataclass
class WCTConfig:
    """levels: encoder/decoder pairs (relu1_1 .. reluL_1). unpool: PhotoWCT max-unpooling decoders
    (False: WCT nearest upsampling). base: VGG's 64 (smaller only for tests)."""

    levels: int = 4
    unpool: bool = True
    base: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= MAX_LEVELS:
            raise UsageError(f"levels must be 1..{MAX_LEVELS}, got {self.levels}")
        if self.base < 1:
            raise UsageError(f"base must be positive, got {self.base}")

    def width(self, mult: int) -> int:
        return 3 if mult == 0 else self.base * mult


class VGGEncoder(nn.Module):
    """RGB in [0, 1] (B, 3, H, W) -> reluL_1 features (B, base*2**(L-1), H/2**(L-1), W/2**(L-1))."""

    def __init__(self, level: int, cfg: WCTConfig) -> None:
        super().__init__()
        self.level = level
        self.conv0 = nn.Conv2d(3, 3, 1, 1, 0)
        self.ops = _trunk(level)
        for kind, name in self.ops:
            if kind == "conv":
                cin, cout = _CHANNELS[name]
                self.add_module(f"conv{name}", nn.Conv2d(cfg.width(cin), cfg.width(cout), 3, 1, 0))

    def _run(self, x: torch.Tensor, keep: bool) -> tuple[torch.Tensor, Pools, list[torch.Tensor]]:
        h = self.conv0(x)
        pools: Pools = []
        taps: list[torch.Tensor] = []  # relu1_1, relu2_1, ... (when keep)
        for kind, name in self.ops:
            if kind == "pool":
                size = h.shape
                h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
                pools.append((idx, size))
            else:
                h = F.relu(getattr(self, f"conv{name}")(F.pad(h, (1, 1, 1, 1), mode="reflect")))
                if keep and name.endswith("_1"):
                    taps.append(h)
        return h, pools, taps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Pools]:
        """Features and the pooling record the level-L decoder needs."""
        h, pools, _ = self._run(x, keep=False)
        return h, pools

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """relu1_1 ... reluL_1 in one pass (the official `forward_multiple`, finest first)."""
        return self._run(x, keep=True)[2]


class VGGDecoder(nn.Module):
    """reluL_1 features -> RGB (B, 3, H, W); `pools` from the encoder of the same level."""

    def __init__(self, level: int, cfg: WCTConfig) -> None:
        super().__init__()
        self.level, self.unpool = level, cfg.unpool
        self.ops = list(reversed(_trunk(level)))
        for kind, name in self.ops:
            if kind == "conv":
                cout, cin = _CHANNELS[name]
                self.add_module(f"conv{name}", nn.Conv2d(cfg.width(cin), cfg.width(cout), 3, 1, 0))

    def forward(self, h: torch.Tensor, pools: Pools) -> torch.Tensor:
        pending = list(pools)
        for kind, name in self.ops:
            if kind == "pool":
                idx, size = pending.pop()
                if self.unpool:
                    h = F.max_unpool2d(h, idx, 2, 2, output_size=size[-2:])
                else:
                    h = F.interpolate(h, size=size[-2:], mode="nearest")
            else:
                h = getattr(self, f"conv{name}")(F.pad(h, (1, 1, 1, 1), mode="reflect"))
                if name != "1_1":
                    h = F.relu(h)
        return h


class WCTNet(nn.Module):
    """All levels: `e{L}` / `d{L}` for L = 1 .. levels (the official PhotoWCT module's names)."""

    def __init__(self, cfg: WCTConfig) -> None:
        super().__init__()
        self.config = cfg
        for level in range(1, cfg.levels + 1):
            self.add_module(f"e{level}", VGGEncoder(level, cfg))
            self.add_module(f"d{level}", VGGDecoder(level, cfg))

    def encoder(self, level: int) -> VGGEncoder:
        return getattr(self, f"e{level}")

    def decoder(self, level: int) -> VGGDecoder:
        return getattr(self, f"d{level}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the deepest pair (what a decoder is trained to do)."""
        h, pools = self.encoder(self.config.levels)(x)
        return self.decoder(self.config.levels)(h, pools)


# one network family, two decoder kinds: the registry names differ only by the `unpool` default
for _name, _unpool, _what in (
    ("photowct", True, "PhotoWCT (FastPhotoStyle): VGG-19 encoders + max-unpooling decoders, 4 levels"),
    ("wct", False, "WCT (Li et al. 2017): VGG-19 encoders + nearest-upsampling decoders, 4 levels"),
):
    register(
        ArchSpec(
            name=_name, config_cls=WCTConfig, build=WCTNet, role="stylizer",
            pad_multiple=lambda c: 1, defaults={"unpool": _unpool}, description=_what,
        )
    )  # fmt: skip
