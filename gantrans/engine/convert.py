"""Convert official CycleGAN/pix2pix, MUNIT/UNIT, StarGAN and PhotoWCT files into self-describing gantrans checkpoints.

Official files are pickles: they are read with `torch.load(weights_only=True)` only, so a file that
would need arbitrary code is refused, never executed. The architecture is inferred from the key set
and shapes (ResNet blocks or U-Net depth, ngf, channels, norm, ResNet dropout); flags override it.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gantrans.io.checkpoint import Checkpoint, CheckpointError, _load_strict
from gantrans.models.registry import build_network, get_spec, make_config

SOURCES = ("cyclegan", "pix2pix", "munit", "unit", "stargan", "photowct")
# yunjey/stargan's default --selected_attrs, used for a 5-label file when --attrs is not given
STARGAN_CELEBA = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


@dataclass
class ConvertOptions:
    source: str = "cyclegan"
    netG: str | None = None
    norm: str | None = None
    ngf: int | None = None
    dropout: bool | None = None
    domains: tuple[str, str] = ("A", "B")
    license: str | None = None
    size: int = 256
    attrs: list[str] | None = None  # StarGAN label names
    groups: dict[str, list[str]] | None = None  # StarGAN exclusive groups


@dataclass
class ConvertResult:
    checkpoint: Checkpoint
    inferred: list[str] = field(default_factory=list)  # "what was inferred", for the user


def read_official(path: Path, nested: bool = False) -> dict[str, Any]:
    """A state dict from an official file, without ever running pickled code.

    `nested`: the MUNIT/UNIT layout {"a": state, "b": state} is returned as is (prefixes cleaned).
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} needs arbitrary code to load (it is not a plain state dict); gantrans never "
            f"executes pickled code, so it is refused ({str(e).splitlines()[0][:200]})"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read as a PyTorch file ({e})") from None
    if nested:
        if not isinstance(obj, dict) or set(obj) != {"a", "b"} or not all(isinstance(v, dict) for v in obj.values()):
            raise CheckpointError(f"{path}: expected the MUNIT/UNIT generator layout {{'a': state_dict, 'b': state_dict}} (gen_*.pt)")
        return {d: _strip_module(obj[d], path) for d in ("a", "b")}
    for key in ("state_dict", "model", "net_G", "G"):  # common wrappers around the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = obj[key]
    return _strip_module(obj, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Third-party weights: a .safetensors file, or a pickle read as `read_official` (no code runs)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return read_official(path)


def read_features(path: Path) -> dict[str, torch.Tensor]:
    """A torchvision VGG/AlexNet weights file -> its `features` convolutions keyed "N.weight" / "N.bias"
    (a "features." prefix is dropped, other parts ignored)."""
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in read_weights(path).items()}
    return {k: v for k, v in state.items() if k.split(".")[0].isdigit()}


def _strip_module(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    state = {}
    for k, v in obj.items():
        while k.startswith("module."):  # DataParallel-wrapped saves
            k = k[len("module.") :]
        state[k] = v
    return state


def infer_generator(state: dict[str, torch.Tensor]) -> tuple[str, dict[str, Any], list[str]]:
    """(arch, config overrides, notes) from an official generator's keys and shapes."""
    notes: list[str] = []
    if any(k.startswith("model.model.") for k in state):
        # the top-level "model." plus one "model." per level of nesting
        num_downs = max(k.count("model.") for k in state if k.endswith("weight")) - 1
        arch = {8: "unet_256", 7: "unet_128"}.get(num_downs)
        if arch is None:
            raise CheckpointError(f"U-Net with {num_downs} downsamplings: only unet_128 (7) and unet_256 (8) are registered")
        first = state["model.model.0.weight"]  # (ngf, in, 4, 4)
        last = max((k for k in state if re.fullmatch(r"model\.model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[2]))
        cfg = {"ngf": first.shape[0], "input_nc": first.shape[1], "output_nc": state[last].shape[1]}
        norm = "batch" if "model.model.1.model.2.weight" in state else ("instance" if "model.model.1.model.1.bias" in state else "none")
        notes.append(f"U-Net with {num_downs} downsamplings -> {arch}")
    else:
        blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
        arch = {9: "resnet_9blocks", 6: "resnet_6blocks"}.get(len(blocks))
        if arch is None:
            raise CheckpointError(f"ResNet generator with {len(blocks)} blocks: only 6 and 9 are registered")
        first = state["model.1.weight"]  # (ngf, in, 7, 7)
        last = max((k for k in state if re.fullmatch(r"model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[1]))
        cfg = {"ngf": first.shape[0], "input_nc": first.shape[1], "output_nc": state[last].shape[0]}
        # batch norm is affine (weights at model.2); only instance norm gives convolutions a bias
        norm = "batch" if "model.2.weight" in state else ("instance" if "model.1.bias" in state else "none")
        # dropout shifts each block's second conv from index 5 to 6 (with batch norm, 6 is a norm)
        cfg["dropout"] = any(k.endswith("conv_block.6.weight") and v.ndim == 4 for k, v in state.items())
        notes.append(f"{len(blocks)} residual blocks -> {arch}; dropout {'on' if cfg['dropout'] else 'off'}")
    cfg["norm"] = norm
    notes.append(f"ngf {cfg['ngf']}, input_nc {cfg['input_nc']}, output_nc {cfg['output_nc']}, norm {norm}")
    return arch, cfg, notes


def convert_official(sources: list[Path], opts: ConvertOptions) -> ConvertResult:
    """One or two official generator files (G_A and/or G_B, told apart by 'G_B' in the name)."""
    if opts.source not in SOURCES:
        raise ValueError(f"--from must be one of {', '.join(SOURCES)}")
    if opts.source in ("munit", "unit"):
        if len(sources) != 1:
            raise ValueError(f"--from {opts.source} takes one gen_*.pt file (it holds both domains)")
        return convert_nvlabs(sources[0], opts)
    if opts.source == "stargan":
        return convert_stargan(sources, opts)
    if opts.source == "photowct":
        from gantrans.engine.convert_wct import convert_photowct

        if len(sources) != 1:
            raise ValueError("--from photowct takes one photo_wct.pth file")
        return convert_photowct(sources[0], opts)
    roles: dict[str, Path] = {}
    for src in sources:
        role = "G_B" if "G_B" in src.name else "G_A"
        if role in roles:
            raise ValueError(f"two files for {role}: {roles[role].name} and {src.name}")
        roles[role] = src
    networks, notes, provenance = {}, [], {"converted_from": opts.source, "sources": []}
    arch = config = None
    for role, src in sorted(roles.items()):
        state = read_official(src)
        a, inferred, n = infer_generator(state)
        overrides = {k: v for k, v in {"norm": opts.norm, "ngf": opts.ngf, "dropout": opts.dropout}.items() if v is not None}
        if opts.source == "pix2pix" and opts.dropout is None and a.startswith("unet"):
            overrides["dropout"] = True  # pix2pix's default; dropout has no weights and is off at inference
        a = opts.netG or a
        cfg = make_config(a, {**{k: v for k, v in inferred.items() if k in ("ngf", "input_nc", "output_nc", "norm", "dropout")}, **overrides})
        if arch is not None and (a, cfg) != (arch, config):
            raise CheckpointError(f"{src.name}: architecture differs from the other file's ({a} vs {arch})")
        arch, config = a, cfg
        net = build_network(a, cfg)
        state, dropped = _drop_stale(state, set(net.state_dict()))
        _load_strict(net, state, f"{src} [{role}, arch={a}, config={cfg}]")
        networks[role] = net
        notes += [f"{src.name} ({role}): " + "; ".join(n + dropped)]
        provenance["sources"].append({"file": src.name, "sha256": _sha(src), "role": role})
    assert arch is not None and get_spec(arch).role == "generator"
    ckpt = Checkpoint(
        arch=arch, config=config, networks=networks, domains=list(opts.domains),
        preprocess={"size": opts.size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance=provenance, license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)


def _sha(src: Path) -> str:
    return hashlib.sha256(src.read_bytes()).hexdigest()


def _drop_stale(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove norm buffers the network does not have: the instance-norm running stats of pre-0.4
    PyTorch files (what the official loaders patch away, e.g. MUNIT's `pytorch03_to_pytorch04`);
    every other key must match exactly."""
    stale = [k for k in state if k not in expected and re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k)]
    return {k: v for k, v in state.items() if k not in stale}, ([f"dropped {len(stale)} stale instance-norm buffers (pre-0.4 PyTorch)"] if stale else [])


def infer_nvlabs(state: dict[str, torch.Tensor], source: str) -> tuple[str, dict[str, Any], list[str]]:
    """MUNIT (AdaINGen) or UNIT (VAEGen) config from one domain's keys and shapes."""
    munit = any(k.startswith("enc_style.") for k in state)
    if (source == "munit") != munit:
        raise CheckpointError(f"--from {source}, but the file holds {'MUNIT (AdaINGen)' if munit else 'UNIT (VAEGen)'} generators")
    enc = "enc_content" if munit else "enc"
    first = state[f"{enc}.model.0.conv.weight"]  # (dim, in, 7, 7)
    n_down = sum(1 for k, v in state.items() if re.fullmatch(rf"{enc}\.model\.\d+\.conv\.weight", k) and v.shape[-1] == 4)
    res = {int(m.group(1)) for k in state if (m := re.match(rf"{enc}\.model\.{n_down + 1}\.model\.(\d+)\.", k))}
    cfg: dict[str, Any] = {"dim": first.shape[0], "n_downsample": n_down, "n_res": len(res)}
    if munit:
        last = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"enc_style\.model\.(\d+)\.weight", k)))
        cfg.update(style_dim=state[f"enc_style.model.{last}.weight"].shape[0], mlp_dim=state["mlp.model.0.fc.weight"].shape[0])
    notes = [", ".join(f"{k} {v}" for k, v in cfg.items())]
    return source, cfg, notes


def convert_nvlabs(src: Path, opts: ConvertOptions) -> ConvertResult:
    """An NVlabs MUNIT/UNIT gen_*.pt ({'a', 'b'}) -> one `G` network holding gen_a and gen_b."""
    both = read_official(src, nested=True)
    arch, cfg_a, notes = infer_nvlabs(both["a"], opts.source)
    _, cfg_b, _ = infer_nvlabs(both["b"], opts.source)
    if cfg_a != cfg_b:
        raise CheckpointError(f"{src}: domains a and b have different generator configs ({cfg_a} vs {cfg_b})")
    enc = "enc_content" if arch == "munit" else "enc"
    cfg = make_config(arch, {**cfg_a, "input_nc": both["a"][f"{enc}.model.0.conv.weight"].shape[1], "output_nc": both["b"][f"{enc}.model.0.conv.weight"].shape[1]})
    net = build_network(arch, cfg)
    expected = set(net.state_dict())
    state = {f"gen_{d}.{k}": v for d in ("a", "b") for k, v in both[d].items()}
    state, dropped = _drop_stale(state, expected)
    _load_strict(net, state, f"{src} [G, arch={arch}, config={cfg}]")
    notes = [f"{src.name}: {arch}; " + "; ".join(notes + dropped) + f"; channels a {cfg.input_nc}, b {cfg.output_nc}"]
    ckpt = Checkpoint(
        arch=arch, config=cfg, networks={"G": net}, domains=list(opts.domains),
        preprocess={"size": opts.size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance={"converted_from": opts.source, "sources": [{"file": src.name, "sha256": _sha(src), "role": "gen"}]},
        license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes)


def convert_stargan(sources: list[Path], opts: ConvertOptions) -> ConvertResult:
    """yunjey/stargan N-G.ckpt (+ optional N-D.ckpt, whose classifier `edit` then uses)."""
    g_files = [p for p in sources if not re.search(r"-D\.ckpt$|(^|[_-])D\.", p.name)]
    d_files = [p for p in sources if p not in g_files]
    if len(g_files) != 1 or len(d_files) > 1:
        raise ValueError("--from stargan takes the generator file (N-G.ckpt) and optionally the discriminator (N-D.ckpt)")
    g_state = read_official(g_files[0])
    first = g_state["main.0.weight"] if "main.0.weight" in g_state else None
    if first is None:
        raise CheckpointError(f"{g_files[0]}: not a StarGAN generator (no main.0.weight)")
    c_dim = first.shape[1] - 3
    repeat = len({int(m.group(1)) for k in g_state if (m := re.match(r"main\.(\d+)\.main\.", k))})
    attrs = list(opts.attrs or [])
    notes = [f"{g_files[0].name}: conv_dim {first.shape[0]}, {repeat} residual blocks, c_dim {c_dim} (label channels = main.0 in-channels - 3)"]
    groups = dict(opts.groups or {})
    if not attrs:
        if c_dim != len(STARGAN_CELEBA):
            raise ValueError(f"this generator takes {c_dim} labels: name them with --attrs A,B,... (in training order)")
        attrs = list(STARGAN_CELEBA)
        groups = groups or {"hair": ["Black_Hair", "Blond_Hair", "Brown_Hair"]}
        notes.append("no --attrs: assumed the official CelebA default Black_Hair,Blond_Hair,Brown_Hair,Male,Young with hair colours exclusive")
    if len(attrs) != c_dim:
        raise ValueError(f"--attrs names {len(attrs)} labels but the generator takes {c_dim}")
    for g, ms in groups.items():
        if not set(ms) <= set(attrs):
            raise ValueError(f"group {g}: {', '.join(m for m in ms if m not in attrs)} not in --attrs")
    cfg = make_config("stargan", {"c_dim": c_dim, "conv_dim": first.shape[0], "repeat_num": repeat})
    g_net = build_network("stargan", cfg)
    g_state, dropped = _drop_stale(g_state, set(g_net.state_dict()))
    _load_strict(g_net, g_state, f"{g_files[0]} [G, arch=stargan, config={cfg}]")
    networks = {"G": g_net}
    aux = {}
    prov = [{"file": g_files[0].name, "sha256": _sha(g_files[0]), "role": "G"}]
    if d_files:
        d_state = read_official(d_files[0])
        d_rep = len([k for k in d_state if re.fullmatch(r"main\.\d+\.weight", k)])
        kernel = d_state["conv2.weight"].shape[-1]
        dcfg = make_config("stargan_dis", {"image_size": kernel * 2**d_rep, "c_dim": d_state["conv2.weight"].shape[0], "conv_dim": d_state["main.0.weight"].shape[0], "repeat_num": d_rep})
        if dcfg.c_dim != c_dim:
            raise CheckpointError(f"{d_files[0]}: the classifier has {dcfg.c_dim} outputs, the generator {c_dim} labels")
        d_net = build_network("stargan_dis", dcfg)
        _load_strict(d_net, d_state, f"{d_files[0]} [D, arch=stargan_dis, config={dcfg}]")
        networks["D"], aux["D"] = d_net, ("stargan_dis", dcfg)
        notes.append(f"{d_files[0].name}: discriminator for {dcfg.image_size} px (classifier kernel {kernel}), stored for attribute prediction")
        prov.append({"file": d_files[0].name, "sha256": _sha(d_files[0]), "role": "D"})
    size = aux["D"][1].image_size if aux else opts.size
    ckpt = Checkpoint(
        arch="stargan", config=cfg, networks=networks, aux=aux, domains=[opts.domains[0]],
        labels={"datasets": [{"name": opts.domains[0], "attrs": attrs, "groups": groups}], "mask": False},
        preprocess={"size": size, "mean": [0.5] * 3, "std": [0.5] * 3},
        provenance={"converted_from": "stargan", "sources": prov}, license=opts.license,
    )  # fmt: skip
    return ConvertResult(ckpt, notes + dropped)
