"""Training configuration: the shared run options plus one options dataclass per recipe (its own
settings, validated by it), with the recipe's defaults (the papers' and the official code's), a
TOML/YAML file on top, then explicit overrides (CLI flags). Validated on every path, resume included;
stored flat with the run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantrans.errors import UsageError

GAN_MODES = ("lsgan", "vanilla", "wgangp", "hinge")
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
LR_POLICIES = ("linear", "step", "multistep", "cosine", "constant")


def check(ok: bool, msg: str) -> None:
    if not ok:
        raise UsageError(msg)


@dataclass
class RunOptions:
    """Settings every recipe has: data, schedule, widths, optimisation, runtime."""

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
    phase: str = "train"
    seed: int = 0
    workers: int = 2
    # networks (generator / discriminator widths; a recipe's options say how it uses them)
    ngf: int = 64
    ndf: int = 64
    input_nc: int = 3
    output_nc: int = 3
    init_type: str = "normal"
    # optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_policy: str = "linear"
    lr_decay_start: float = 0.5  # linear: fraction of steps at constant lr before decaying to 0
    lr_decay_every: int = 5000  # step policy: multiply by lr_gamma every this many steps
    lr_gamma: float = 0.1
    lr_milestones: list[int] = field(default_factory=list)  # multistep policy: multiply by lr_gamma at each
    weight_decay: float = 0.0
    # runtime
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False  # torch.compile the networks' training passes (a message and eager mode where it cannot)
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead (CUDA graphs) | max-autotune
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 50
    tensorboard: bool = False
    nan_policy: str = "stop"  # a NaN/Inf loss: stop (keeping the last good checkpoint) or skip that update
    domains: list[str] = field(default_factory=lambda: ["A", "B"])
    init_from: str = ""  # fine-tune: start from a gantrans checkpoint's networks (same names and shapes)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))


@dataclass
class TrainConfig(RunOptions):
    """The shared run options plus the recipe's own options (`options`, a dataclass of the recipe).

    Reading a recipe option through the config (`cfg.lambda_A`) is allowed; it is stored flat in config.json."""

    options: Any = None

    def __getattr__(self, name: str) -> Any:  # only called when ordinary lookup fails
        opts = self.__dict__.get("options")
        if opts is not None and name in {f.name for f in dataclasses.fields(opts)}:
            return getattr(opts, name)
        raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('model')!r} has no setting {name!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Flat settings (config.json, file + flags) -> a typed, validated config; unknown names are errors."""
        from gantrans import registry

        model = values.get("model", "cyclegan")
        check(model in registry.recipe_names(), f"--arch must be one of {', '.join(registry.recipe_names())}, got {model!r}")
        options_cls = registry.recipe_class(model).Options
        own = {f.name for f in dataclasses.fields(options_cls)}
        unknown = sorted(k for k in values if k not in RUN_FIELDS and k not in own)
        check(not unknown, f"unknown setting {unknown[0]!r} for {model}" if unknown else "")
        cfg = cls(**{k: v for k, v in values.items() if k in RUN_FIELDS}, options=options_cls(**{k: v for k, v in values.items() if k in own}))
        _check_types(cfg)
        _check_types(cfg.options)
        return cfg.validate()

    @staticmethod
    def known(model: str) -> set[str]:
        """Every setting `model` takes: the run options and its recipe's own."""
        from gantrans import registry

        return set(RUN_FIELDS) | {f.name for f in dataclasses.fields(registry.recipe_class(model).Options)}

    def validate(self) -> "TrainConfig":
        check(self.preprocess in PREPROCESS, f"preprocess must be one of {', '.join(PREPROCESS)}")
        check(self.lr_policy in LR_POLICIES, f"lr_policy must be one of {', '.join(LR_POLICIES)}")
        check(self.nan_policy in ("stop", "skip"), "nan_policy must be stop or skip")
        check(self.compile_mode in COMPILE_MODES, f"compile_mode must be one of {', '.join(COMPILE_MODES)}")
        for name in ("steps", "batch_size", "crop_size", "load_size", "save_every", "sample_every", "log_every"):
            check(int(getattr(self, name)) >= 1, f"{name} must be >= 1")
        check(self.load_size >= self.crop_size or "crop" not in self.preprocess, "load_size must be >= crop_size")
        check(0.0 <= self.lr_decay_start <= 1.0, "lr_decay_start is a fraction in [0, 1]")
        check(self.workers >= 0, "workers must be >= 0")
        check(len(self.domains) == 2, "domains: two names, A and B")
        check(all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in self.lr_milestones), "lr_milestones: positive step numbers")
        self.options.validate(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Flat: run options and recipe options side by side (config.json, --dry-run)."""
        out = {f: getattr(self, f) for f in RUN_FIELDS}
        out.update(dataclasses.asdict(self.options))
        return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise UsageError(f"{path}: config files are .toml, .yaml/.yml or .json")
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use TOML") from None
            data = yaml.safe_load(text) or {}
    except UsageError:
        raise
    except Exception as e:  # tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError
        raise UsageError(f"{path}: not valid {suffix.lstrip('.').upper()} ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a table of settings at the top level")
    return data


def resolve_config(model: str, file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """defaults <- the recipe's defaults <- config file <- overrides (None values in overrides are ignored)."""
    from gantrans import registry

    file_values = read_config_file(file) if file else {}
    given = {k.replace("-", "_"): v for k, v in (overrides or {}).items() if v is not None}
    file_values = {k.replace("-", "_"): v for k, v in file_values.items()}
    model = given.get("model") or file_values.get("model") or model
    check(model in registry.recipe_names(), f"--arch must be one of {', '.join(registry.recipe_names())}, got {model!r}")
    recipe = registry.recipe_class(model)
    fields = set(RUN_FIELDS) | {f.name for f in dataclasses.fields(recipe.Options)}
    for source, name in ((file_values, f"config file {file}"), (given, "overrides")):
        for key in source:
            check(key in fields, f"{name}: unknown setting {key!r} for {model}")
    values = {**recipe.defaults, **file_values, **given, "model": model}
    return TrainConfig.from_dict(values)


def _check_types(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        if f.name == "options":
            continue
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
