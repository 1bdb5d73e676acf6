"""What a model family is: the one object the CLI, engine, export, training and tests ask about a model.

A family names its architectures (and the model modules that define them), how a checkpoint's networks
map to translation directions, the condition its generator takes (none, a style code, a label vector),
one uniform forward `(gen, x, direction, cond) -> y` on normalised tensors, its training recipes and its
converters. Nothing outside a family's own files tests a family or architecture name.

Family modules import no torch at module level: `gantrans --help` lists their names without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gantrans.engine.convert import ConvertOptions, ConvertResult
    from gantrans.engine.translator import Translator

# direction -> checkpoint network prefix (CycleGAN convention: G_A maps A to B, G_B maps B to A)
DIRECTIONS = {"a2b": "G_A", "b2a": "G_B"}
CONDITIONS = ("none", "style", "label")


@dataclass(frozen=True)
class Converter:
    """Official weights of one kind -> a gantrans checkpoint.

    recognises: given the file's unpickled object (read with weights_only=True), does it look like this kind?
    convert: (source files, options) -> ConvertResult.
    """

    name: str
    files: str  # what the converter takes, for help texts
    recognises: Callable[[Any], bool]
    convert: Callable[[list[Path], "ConvertOptions"], "ConvertResult"]
    default_size: int = 256  # training image size recorded when --image-size is not given
    domains: int = 2  # how many names --domains takes (StarGAN: the dataset's name; PhotoWCT: none)

    def check_domains(self, names: "tuple[str, ...] | None") -> None:
        from gantrans.errors import UsageError

        if names is not None and self.domains == 2 and (len(names) != 2 or not all(names)):
            raise UsageError("--domains takes two names: A,B")
        if names is not None and self.domains == 1 and not names[0]:
            raise UsageError("--domains takes the dataset's name")


class Family:
    """Base class: one network per direction (G_A / G_B), no condition, `G(x)`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # for messages: "CycleGAN/pix2pix", "MUNIT", ...
    archs: ClassVar[tuple[str, ...]] = ()  # what a checkpoint's `arch` may name
    aux_archs: ClassVar[tuple[str, ...]] = ()  # networks stored beside them (discriminators)
    model_modules: ClassVar[tuple[str, ...]] = ()  # importing these registers the architectures
    role: ClassVar[str] = "translator"  # "translator" / "upscaler" (gantrans.load) or "stylizer" (gantrans.stylizer)
    output_range: ClassVar[str] = "tanh"  # generator output: "tanh" ([-1, 1]) or "unit" ([0, 1])
    # tiles: "blend" (overlapping tiles blended linearly, whole-image norm statistics) for translation;
    # "padcrop" (each tile run with real context around it, the core kept) for local models
    tiling: ClassVar[str] = "blend"
    cond: ClassVar[str] = "none"  # the condition kind of the forward: none | style | label | mask
    commands: ClassVar[frozenset[str]] = frozenset({"translate", "export"})  # CLI commands it serves
    recipes: ClassVar[dict[str, str]] = {}  # training recipe name -> "module:Class"
    converters: ClassVar[dict[str, Converter]] = {}
    init_default: ClassVar[str] = "normal"  # weight init of gantrans.build

    # -- networks and directions ------------------------------------------------------------
    def networks(self, directions: Sequence[str]) -> list[str]:
        """Network names of a fresh model serving `directions` (build)."""
        return [DIRECTIONS[d] for d in directions]

    def directions(self, networks: Sequence[str]) -> list[str]:
        """The directions a checkpoint holding `networks` translates."""
        return [d for d, prefix in DIRECTIONS.items() if prefix in networks]

    def network(self, direction: str) -> str:
        """The checkpoint network that translates `direction`."""
        return DIRECTIONS[direction]

    def missing_direction(self, direction: str, have: Sequence[str]) -> str:
        return f"this model has no {direction} generator ({DIRECTIONS[direction]}); it translates {', '.join(have)} only"

    def channels(self, config: Any, direction: str) -> tuple[int, int]:
        """(input, output) channels of `direction`."""
        return config.input_nc, config.output_nc

    def preprocess(self, size: int) -> dict[str, Any] | None:
        """Input normalisation of a fresh model (None: the translation default, [-1, 1] at `size`)."""
        return None

    @property
    def cond_is_image(self) -> bool:
        """The condition is aligned with the image's pixels (a mask): --tta turns it with the image."""
        return self.cond == "mask"

    def to_unit(self, y: "torch.Tensor") -> "torch.Tensor":
        """Generator output -> [0, 1] (clamped): [-1, 1] for "tanh" families, [0, 1] already for "unit"."""
        return y.clamp(0.0, 1.0) if self.output_range == "unit" else ((y + 1.0) * 0.5).clamp(0.0, 1.0)

    def scale(self, config: Any) -> int:
        """Output size / input size (super-resolution models: 2, 4, ...)."""
        return 1

    def init(self, net: "nn.Module", init: str) -> "nn.Module":
        """Fresh weights for gantrans.build (`init`: normal | xavier | kaiming | orthogonal, or official: the
        architecture's own constructor initialisation, as its reference code builds it)."""
        from gantrans.models.layers import init_weights

        return net if init == "official" else init_weights(net, init)

    # -- the uniform forward -------------------------------------------------------------------
    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        """Normalised, padded (B, C, H, W) (+ condition) -> (B, out, H, W) in [-1, 1]."""
        return gen(x)

    def cond_shape(self, config: Any) -> tuple[int, ...] | None:
        """Per-sample shape of the condition (None: the forward takes none)."""
        return None

    def cond_name(self) -> str:
        """Name of the condition input in exported graphs."""
        return self.cond

    def cond_hint(self) -> str:
        """What the condition is, for errors."""
        return ""

    def example_cond(self, t: "Translator", n: int, seed: int) -> "torch.Tensor | None":
        """A valid condition batch of n (export tracing, verification, tests, benchmarks)."""
        return None

    def example_cond_like(self, t: "Translator", x: "torch.Tensor", seed: int) -> "torch.Tensor | None":
        """A valid condition for the batch `x` (export tracing and verification): by default example_cond."""
        return self.example_cond(t, x.shape[0], seed)

    def cond_axes(self) -> dict[int, str]:
        """Dynamic axes of the condition input in exported graphs."""
        return {0: "batch"}

    def item_conds(self, t: "Translator", direction: str, seed: int, style_from: str | None) -> Callable[[Any], "torch.Tensor"] | None:
        """For `translate`: the condition of each input item (None: the forward takes none).

        Raises UsageError where a family cannot translate with these options."""
        from gantrans.errors import UsageError

        if style_from:
            raise UsageError(f"--style-from needs a MUNIT model; {t.arch} has no style codes")
        return None


class OneNetwork(Family):
    """Families whose checkpoint holds one generator `G` with one direction (a2b): super-resolution,
    completion, latent decoders."""

    def networks(self, directions: Sequence[str]) -> list[str]:
        return ["G"]

    def directions(self, networks: Sequence[str]) -> list[str]:
        return ["a2b"] if "G" in networks else []

    def network(self, direction: str) -> str:
        return "G"
