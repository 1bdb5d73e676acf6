"""gantrans: GAN image-to-image translation (CycleGAN, pix2pix, ...) as a CLI and a Python engine.

    import gantrans
    model = gantrans.load("model.safetensors")          # path, bundled name, or hf://org/repo
    out = model.translate(Image.open("horse.jpg"))       # PIL in, PIL out, same size

Heavy modules (torch) are imported on first use, so `import gantrans` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gantrans.engine.stylize import Stylizer
    from gantrans.engine.translator import Translator


def build(
    arch: str,
    *,
    directions: Sequence[str] = ("a2b", "b2a"),
    domains: Sequence[str] = ("A", "B"),
    seed: int = 0,
    init: str | None = None,
    size: int = 256,
    device: str = "cpu",
    precision: str = "auto",
    labels: dict[str, Any] | None = None,
    **config: Any,
) -> "Translator":
    """A generator model with fresh (seeded) weights, e.g. `build("resnet_9blocks", ngf=32)`.

    `directions` picks the generators: a2b -> G_A, b2a -> G_B (MUNIT/UNIT/StarGAN: one module "G"
    holds both domains / all labels). `config` overrides the architecture's config fields
    (input_nc, output_nc, ngf, norm, dropout, style_dim, c_dim, ...). `labels`: StarGAN label schema.
    """
    import torch

    from gantrans.engine.translator import DIRECTIONS, Translator
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import DEFAULT_PREPROCESS, Checkpoint
    from gantrans.models.registry import build_network, get_spec, make_config
    from gantrans.registry import family_of

    spec = get_spec(arch)
    family = family_of(arch)
    if spec.role != "generator" or family.role not in ("translator", "upscaler", "inpainter"):
        raise UsageError(f"{arch} is a {spec.role}; build() makes translation models (generators)")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown or not directions:
        raise UsageError(f"directions must be a non-empty subset of {list(DIRECTIONS)}, got {list(directions)}")
    cfg = make_config(arch, config)
    gen = torch.Generator().manual_seed(seed)
    networks = {}
    # one network per direction (CycleGAN-style) or one module holding both domains / all labels
    for name in family.networks(directions):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
            networks[name] = family.init(build_network(arch, cfg), init or family.init_default)
    preprocess = family.preprocess(size) or dict(DEFAULT_PREPROCESS, size=size)
    ckpt = Checkpoint(
        arch=arch, config=cfg, networks=networks, domains=list(domains), preprocess=preprocess, labels=dict(labels or {})
    )
    return Translator(ckpt, device=device, precision=precision)


def load(ref: str, device: str = "auto", precision: str = "auto", config: "dict[str, Any] | None" = None) -> "Translator":
    """Load a translation model from a path, a bundled name (weights/) or `hf://org/repo[/file][@rev]`.
    `config` overrides architecture options that change no weight, e.g. `{"blend": "poisson"}` (inpainting)."""
    from gantrans.engine.translator import Translator
    from gantrans.io.checkpoint import load_checkpoint
    from gantrans.io.hub import resolve

    return Translator(load_checkpoint(resolve(ref), config=config), device=device, precision=precision)


def stylizer(ref: str, device: str = "auto", precision: str = "auto") -> "Stylizer":
    """Load a WCT/PhotoWCT model (`gantrans stylize`) from a path, a bundled name or `hf://org/repo`."""
    from gantrans.engine.stylize import stylizer as _load

    return _load(ref, device=device, precision=precision)


__all__ = ["__version__", "build", "load", "stylizer"]
