"""MUNIT and UNIT (NVlabs): one network `G` holding both domains' generators (gen_a, gen_b).

MUNIT's forward takes a style code (B, style_dim, 1, 1) of the target domain; UNIT translates with the
latent mean, as the official test. Converters read the official `gen_*.pt` files ({'a': ..., 'b': ...}).
"""

from __future__ import annotations

import functools
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gantrans.families.base import Converter, Family
from gantrans.registry import register_family

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gantrans.engine.convert import ConvertOptions, ConvertResult
    from gantrans.engine.translator import Translator


def infer_nvlabs(state: dict[str, Any], arch: str, styled: bool) -> tuple[dict[str, Any], list[str]]:
    """MUNIT (AdaINGen, `styled`) or UNIT (VAEGen) config from one domain's keys and shapes."""
    from gantrans.io.checkpoint import CheckpointError

    munit = any(k.startswith("enc_style.") for k in state)
    if styled != munit:
        raise CheckpointError(f"--from {arch}, but the file holds {'MUNIT (AdaINGen)' if munit else 'UNIT (VAEGen)'} generators")
    enc = enc_prefix(styled)
    first = state[f"{enc}.model.0.conv.weight"]  # (dim, in, 7, 7)
    n_down = sum(1 for k, v in state.items() if re.fullmatch(rf"{enc}\.model\.\d+\.conv\.weight", k) and v.shape[-1] == 4)
    res = {int(m.group(1)) for k in state if (m := re.match(rf"{enc}\.model\.{n_down + 1}\.model\.(\d+)\.", k))}
    cfg: dict[str, Any] = {"dim": first.shape[0], "n_downsample": n_down, "n_res": len(res)}
    if munit:
        last = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"enc_style\.model\.(\d+)\.weight", k)))
        cfg.update(style_dim=state[f"enc_style.model.{last}.weight"].shape[0], mlp_dim=state["mlp.model.0.fc.weight"].shape[0])
    notes = [", ".join(f"{k} {v}" for k, v in cfg.items())]
    return cfg, notes


def enc_prefix(styled: bool) -> str:
    """The content encoder's key prefix: MUNIT's AdaINGen has enc_content (beside enc_style), UNIT's VAEGen enc."""
    return "enc_content" if styled else "enc"


def convert(sources: list[Path], opts: "ConvertOptions", arch: str = "munit", styled: bool = True) -> "ConvertResult":
    """An NVlabs MUNIT/UNIT gen_*.pt ({'a', 'b'}) -> one `G` network (`arch`) holding gen_a and gen_b."""
    from gantrans.engine.convert import (
        ConvertResult,
        drop_stale,
        two_domains,
    )
    from gantrans.errors import UsageError
    from gantrans.io.checkpoint import Checkpoint, CheckpointError, load_strict
    from gantrans.io.weights import file_sha256, read_official
    from gantrans.models.registry import build_network, make_config

    if len(sources) != 1:
        raise UsageError(f"--from {opts.source} takes one gen_*.pt file (it holds both domains)")
    src = sources[0]
    both = read_official(src, nested=True)
    cfg_a, notes = infer_nvlabs(both["a"], arch, styled)
    cfg_b, _ = infer_nvlabs(both["b"], arch, styled)
    if cfg_a != cfg_b:
        raise CheckpointError(f"{src}: domains a and b have different generator configs ({cfg_a} vs {cfg_b})")
    enc = enc_prefix(styled)
    cfg = make_config(arch, {**cfg_a, "input_nc": both["a"][f"{enc}.model.0.conv.weight"].shape[1], "output_nc": both["b"][f"{enc}.model.0.conv.weight"].shape[1]})
    net = build_network(arch, cfg)
    state = {f"gen_{d}.{k}": v for d in ("a", "b") for k, v in both[d].items()}
    state, dropped = drop_stale(state, set(net.state_dict()))
    load_strict(net, state, f"{src} [G, arch={arch}, config={cfg}]")
    notes = [f"{src.name}: {arch}; " + "; ".join(notes + dropped) + f"; channels a {cfg.input_nc}, b {cfg.output_nc}"]
    ckpt = Checkpoint(
        arch=arch, config=cfg, networks={"G": net}, domains=two_domains(opts),
        preprocess={"size": opts.size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance={"converted_from": opts.source, "sources": [{"file": src.name, "sha256": file_sha256(src), "role": "gen"}]},
        license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)


def _nested(obj: Any, style: bool) -> bool:
    return (
        isinstance(obj, dict) and set(obj) == {"a", "b"} and all(isinstance(v, dict) for v in obj.values())
        and any(k.removeprefix("module.").startswith("enc_style.") for k in obj["a"]) == style
    )  # fmt: skip


class _TwoDomains(Family):
    """One module `G` with gen_a and gen_b: both directions, domains may differ in channels."""

    init_default = "kaiming"

    def networks(self, directions: Sequence[str]) -> list[str]:
        return ["G"]

    def directions(self, networks: Sequence[str]) -> list[str]:
        return ["a2b", "b2a"]

    def network(self, direction: str) -> str:
        return "G"

    def channels(self, config: Any, direction: str) -> tuple[int, int]:
        return (config.output_nc, config.input_nc) if direction == "b2a" else (config.input_nc, config.output_nc)

    def init(self, net: "nn.Module", init: str) -> "nn.Module":
        from gantrans.models.munit_blocks import munit_init

        return munit_init(net, "kaiming" if init == "normal" else init)


class MUNITFamily(_TwoDomains):
    name = "munit"
    title = "MUNIT"
    archs = ("munit",)
    aux_archs = ("ms_image_dis",)
    model_modules = ("gantrans.models.munit", "gantrans.models.msdis")
    cond = "style"
    commands = frozenset({"translate", "style-sample", "export"})
    recipes = {"munit": "gantrans.train.munit:MUNIT"}
    converters = {"munit": Converter("munit", "gen_N.pt (MUNIT)", lambda obj: _nested(obj, True), functools.partial(convert, arch="munit", styled=True))}

    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        return gen.translate(x, cond, direction)  # type: ignore[operator]

    def cond_shape(self, config: Any) -> tuple[int, ...]:
        return (config.style_dim, 1, 1)

    def cond_hint(self) -> str:
        return "style codes (B, style_dim, 1, 1)"

    def example_cond(self, t: "Translator", n: int, seed: int) -> "torch.Tensor":
        return t.random_styles(range(seed, seed + n))

    def item_conds(self, t: "Translator", direction: str, seed: int, style_from: str | None) -> Callable[[Any], "torch.Tensor"]:
        """item -> style code: the reference's, or a random one seeded by (seed, the item's output name)."""
        from gantrans.engine.styles import reference_styles
        from gantrans.engine.translator import style_for_seed

        if style_from:
            code = reference_styles(t, [style_from], direction)[0].code
            return lambda item: code
        return lambda item: style_for_seed(seed * 1_000_003 + zlib.crc32(str(item.rel).encode()), t.style_dim)


class UNITFamily(_TwoDomains):
    name = "unit"
    title = "UNIT"
    archs = ("unit",)
    model_modules = ("gantrans.models.unit", "gantrans.models.msdis")
    recipes = {"unit": "gantrans.train.munit:UNIT"}
    converters = {"unit": Converter("unit", "gen_N.pt (UNIT)", lambda obj: _nested(obj, False), functools.partial(convert, arch="unit", styled=False))}

    def forward(self, gen: "nn.Module", x: "torch.Tensor", direction: str, cond: "torch.Tensor | None") -> "torch.Tensor":
        return gen.translate(x, direction)  # type: ignore[operator]


register_family(MUNITFamily())
register_family(UNITFamily())
