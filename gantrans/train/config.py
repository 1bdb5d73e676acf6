"""Training configuration: per-model defaults (the papers' and the official code's), a TOML/YAML
file on top, then explicit overrides (CLI flags). Validated once, stored with the run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantrans.errors import UsageError

MODELS = ("cyclegan", "pix2pix", "munit", "unit", "stargan", "wct-decoder")
GAN_MODES = ("lsgan", "vanilla", "wgangp", "hinge")
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
LR_POLICIES = ("linear", "step", "cosine", "constant")


@dataclass
class TrainConfig:
    model: str = "cyclegan"
    dataset: str = ""
    output: str = ""
    # schedule and data
    steps: int = 10000
    batch_size: int = 1
    load_size: int = 286
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    flip: bool = True
    direction: str = "a2b"  # pix2pix/aligned data: which side is the input
    phase: str = "train"
    seed: int = 0
    workers: int = 2
    # networks
    netG: str = "resnet_9blocks"
    ngf: int = 64
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "instance"
    dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3
    init_type: str = "normal"
    init_gain: float = 0.02
    # losses
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_L1: float = 100.0
    lambda_gp: float = 10.0
    pool_size: int = 50
    # MUNIT / UNIT (ngf/ndf/n_layers_D are the generator/discriminator widths and D depth)
    style_dim: int = 8
    n_res: int = 4
    mlp_dim: int = 256
    num_scales: int = 3
    share: int = 0  # UNIT: residual blocks shared between the domains (paper: 1; official code: 0)
    gan_w: float = 1.0
    recon_x_w: float = 10.0
    recon_s_w: float = 1.0
    recon_c_w: float = 1.0
    recon_x_cyc_w: float = 0.0
    recon_kl_w: float = 0.01
    recon_kl_cyc_w: float = 0.01
    vgg_w: float = 0.0
    vgg_weights: str = ""  # torchvision VGG16 weights file for the perceptual loss (vgg_w > 0)
    # StarGAN
    attrs: list[str] = field(default_factory=list)  # selected attributes (attribute-file datasets)
    groups: list[str] = field(default_factory=list)  # exclusive groups, "hair=Black_Hair,Blond_Hair"
    datasets: list[str] = field(default_factory=list)  # multi-dataset: "attrs:PATH", "folders:PATH"
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    n_critic: int = 5
    repeat_num: int = 6  # generator residual blocks
    d_repeat_num: int = 6  # discriminator stride-2 convs (its classifier kernel is crop_size / 2**this)
    center_crop: int = 0  # StarGAN: centre-crop to this size before resizing (CelebA: 178); 0 = none
    # wct-decoder (ngf is the VGG width: 64)
    encoder: str = ""  # a WCT/PhotoWCT checkpoint, a torchvision VGG-19 weights file, or "random"
    unpool: bool = True  # PhotoWCT max-unpooling decoders (False: WCT nearest upsampling)
    wct_levels: int = 4
    lambda_feat: float = 1.0
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_policy: str = "linear"
    lr_decay_start: float = 0.5  # linear: fraction of steps at constant lr before decaying to 0
    lr_decay_every: int = 5000  # step policy: multiply by lr_gamma every this many steps
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    # runtime
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 50
    tensorboard: bool = False
    nan_policy: str = "stop"  # a NaN/Inf loss: stop (keeping the last good checkpoint) or skip that update
    domains: list[str] = field(default_factory=lambda: ["A", "B"])
    init_from: str = ""  # fine-tune: start from a gantrans checkpoint's networks (same names and shapes)

    def validate(self) -> "TrainConfig":
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise UsageError(msg)

        check(self.model in MODELS, f"--arch must be one of {', '.join(MODELS)}, got {self.model!r}")
        check(self.gan_mode in GAN_MODES, f"gan_mode must be one of {', '.join(GAN_MODES)}")
        check(self.preprocess in PREPROCESS, f"preprocess must be one of {', '.join(PREPROCESS)}")
        check(self.lr_policy in LR_POLICIES, f"lr_policy must be one of {', '.join(LR_POLICIES)}")
        check(self.direction in ("a2b", "b2a"), "direction must be a2b or b2a")
        check(self.nan_policy in ("stop", "skip"), "nan_policy must be stop or skip")
        for name in ("steps", "batch_size", "crop_size", "load_size", "save_every", "sample_every", "log_every"):
            check(int(getattr(self, name)) >= 1, f"{name} must be >= 1")
        check(self.load_size >= self.crop_size or "crop" not in self.preprocess, "load_size must be >= crop_size")
        check(0.0 <= self.lr_decay_start <= 1.0, "lr_decay_start is a fraction in [0, 1]")
        check(self.pool_size >= 0 and self.workers >= 0, "pool_size and workers must be >= 0")
        check(len(self.domains) == 2, "domains: two names, A and B")
        check(self.gan_mode in ("lsgan", "vanilla") or self.model not in ("munit", "unit"), "munit/unit: gan_mode lsgan or vanilla (nsgan)")
        check(self.vgg_w <= 0 or bool(self.vgg_weights), "vgg_w > 0 needs vgg_weights (a torchvision VGG16 weights file)")
        check(self.n_critic >= 1, "n_critic must be >= 1")
        if self.model == "wct-decoder":
            check(bool(self.encoder), "wct-decoder needs encoder: a WCT/PhotoWCT checkpoint, a torchvision VGG-19 file, or 'random'")
            check(1 <= self.wct_levels <= 4, "wct_levels must be 1..4")
            check(self.crop_size % 8 == 0 or "crop" not in self.preprocess, "wct-decoder needs a crop size that is a multiple of 8")
            return self
        if self.model in ("munit", "unit", "stargan"):
            # the discriminator fixes the multiple: StarGAN's classifier kernel, MUNIT/UNIT's coarsest scale
            m = 2**self.d_repeat_num if self.model == "stargan" else 2 ** (self.n_layers_D + self.num_scales - 1)
            check(self.crop_size % m == 0, f"{self.model} needs a crop size that is a multiple of {m}; got {self.crop_size}")
            return self
        from gantrans.models.registry import get_spec

        spec = get_spec(self.netG)
        check(spec.role == "generator", f"netG {self.netG!r} is not a generator")
        need = spec.padded_size(spec.config_cls(**spec.defaults), self.crop_size)
        check(
            "crop" not in self.preprocess or need == self.crop_size,
            f"{self.netG} needs a crop size that is a multiple of {spec.pad_multiple(spec.config_cls(**spec.defaults))} "
            f"(and at least {spec.padded_size(spec.config_cls(**spec.defaults), 1)}); got {self.crop_size}",
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The official defaults each model sets on top of the base options (anchors.md §1.1).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "cyclegan": {"netG": "resnet_9blocks", "norm": "instance", "dropout": False, "gan_mode": "lsgan", "pool_size": 50},
    "pix2pix": {"netG": "unet_256", "norm": "batch", "dropout": True, "gan_mode": "vanilla", "pool_size": 0, "lambda_L1": 100.0},
    # NVlabs MUNIT/UNIT configs (edges2handbags / unit_gta2city): Adam 1e-4, wd 1e-4, lr x0.5 every 100k
    "munit": {
        "gan_mode": "lsgan", "lr": 1e-4, "weight_decay": 1e-4, "lr_policy": "step", "lr_decay_every": 100000,
        "lr_gamma": 0.5, "init_type": "kaiming", "n_layers_D": 4, "load_size": 256, "crop_size": 256,
        "pool_size": 0, "recon_x_cyc_w": 0.0, "steps": 1000000,
    },
    "unit": {
        "gan_mode": "lsgan", "lr": 1e-4, "weight_decay": 1e-4, "lr_policy": "step", "lr_decay_every": 100000,
        "lr_gamma": 0.5, "init_type": "kaiming", "n_layers_D": 4, "load_size": 256, "crop_size": 256,
        "pool_size": 0, "recon_x_cyc_w": 10.0, "steps": 1000000,
    },
    # Li et al. 2017 (universal style transfer): Adam 1e-4, pixel + feature reconstruction, lambda 1
    "wct-decoder": {
        "lr": 1e-4, "beta1": 0.9, "lr_policy": "constant", "batch_size": 8, "load_size": 286, "crop_size": 256,
        "steps": 20000, "pool_size": 0, "ngf": 64,
    },
    # yunjey/stargan: WGAN-GP, Adam 1e-4, batch 16, 128 px, linear decay over the second half
    "stargan": {
        "gan_mode": "wgangp", "lr": 1e-4, "batch_size": 16, "load_size": 128, "crop_size": 128, "pool_size": 0,
        "lr_policy": "linear", "lr_decay_start": 0.5, "steps": 200000, "flip": True,
    },
}  # fmt: skip


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        import tomllib

        data = tomllib.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use TOML") from None
        data = yaml.safe_load(text) or {}
    elif path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        raise UsageError(f"{path}: config files are .toml, .yaml/.yml or .json")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a table of settings at the top level")
    return data


def resolve_config(model: str, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """defaults <- model defaults <- config file <- overrides (None values in overrides are ignored)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    file_values = read_config_file(file) if file else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    model = given.get("model") or file_values.get("model") or model
    values.update(MODEL_DEFAULTS.get(model, {}))
    for source, name in ((file_values, f"config file {file}"), (given, "overrides")):
        for key, value in source.items():
            key = key.replace("-", "_")
            if key not in fields:
                raise UsageError(f"{name}: unknown setting {key!r}")
            values[key] = value
    values["model"] = model
    cfg = TrainConfig(**values)
    _check_types(cfg)
    return cfg.validate()


def _check_types(cfg: TrainConfig) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                setattr(cfg, f.name, float(value))
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, list):
            ok = isinstance(value, list)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise UsageError(f"setting {f.name!r} must be {type(default).__name__}, got {value!r}")
