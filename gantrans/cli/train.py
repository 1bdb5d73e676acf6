"""`gantrans train`: CycleGAN / pix2pix / MUNIT / UNIT / StarGAN / WCT-decoder training runs, resumable, config file + flag overrides."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gantrans import registry
from gantrans.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    QuietOpt,
    ThreadsOpt,
    err,
    fail,
    handle_errors,
    use_threads,
)

Opt = typer.Option


def train(
    dataset: Annotated[Optional[str], typer.Argument(help="Dataset folder (trainA/+trainB/, train/ with A|B images, or A/+B/; StarGAN: an attribute file or train/<domain>/).", show_default=False)] = None,
    arch: Annotated[Optional[str], Opt("--arch", help=" | ".join(registry.recipe_names()) + ".")] = None,
    datasets: Annotated[Optional[list[str]], Opt("--dataset", help="StarGAN multi-dataset training: attrs:PATH or folders:PATH (repeatable).")] = None,
    attrs: Annotated[Optional[str], Opt("--attrs", help="StarGAN: attributes to use from the attribute file, e.g. Black_Hair,Blond_Hair,Male.")] = None,
    groups: Annotated[Optional[list[str]], Opt("--group", help="StarGAN: an exclusive group, e.g. hair=Black_Hair,Blond_Hair,Brown_Hair (repeatable).")] = None,
    output: Annotated[Optional[str], Opt("--output", "-o", help="Run directory (config, metrics, samples, model.safetensors, state).")] = None,
    config: Annotated[Optional[Path], Opt("--config", "-c", help="TOML/YAML/JSON file of settings; flags override it.")] = None,
    resume: Annotated[Optional[str], Opt("--resume", help="Continue the run in this directory (exactly where it stopped).")] = None,
    steps: Annotated[Optional[int], Opt("--steps", min=1, help="Total optimisation steps.")] = None,
    batch_size: Annotated[Optional[int], Opt("--batch-size", "-b", min=1, help="Images per step (per process).")] = None,
    size: Annotated[Optional[int], Opt("--size", min=4, help="Crop size (training resolution).")] = None,
    load_size: Annotated[Optional[int], Opt("--load-size", min=4, help="Resize before cropping (default 286).")] = None,
    preprocess: Annotated[Optional[str], Opt("--preprocess", help="resize_and_crop | crop | scale_width | scale_width_and_crop | none.")] = None,
    flip: Annotated[Optional[bool], Opt("--flip/--no-flip", help="Random horizontal flips.", show_default=False)] = None,
    seed: Annotated[Optional[int], Opt("--seed", help="Seed for weights, data order, augmentation.")] = None,
    device: Annotated[Optional[str], Opt("--device", help="auto | cpu | cuda | cuda:N | mps.")] = None,
    precision: Annotated[Optional[str], Opt("--precision", help="fp32 | bf16 | fp16 (mixed precision; fp16 with loss scaling).")] = None,
    save_every: Annotated[Optional[int], Opt("--save-every", min=1, help="Save model + state every N steps.")] = None,
    sample_every: Annotated[Optional[int], Opt("--sample-every", min=1, help="Write a sample grid every N steps.")] = None,
    log_every: Annotated[Optional[int], Opt("--log-every", min=1, help="Log metrics every N steps.")] = None,
    workers: Annotated[Optional[int], Opt("--workers", min=0, help="Data-loading processes.")] = None,
    netG: Annotated[Optional[str], Opt("--netG", help="resnet_9blocks | resnet_6blocks | unet_256 | unet_128.")] = None,
    ngf: Annotated[Optional[int], Opt("--ngf", min=1)] = None,
    ndf: Annotated[Optional[int], Opt("--ndf", min=1)] = None,
    norm: Annotated[Optional[str], Opt("--norm", help="instance | batch | none.")] = None,
    dropout: Annotated[Optional[bool], Opt("--dropout/--no-dropout", show_default=False)] = None,
    gan_mode: Annotated[Optional[str], Opt("--gan-mode", help="lsgan | vanilla | wgangp | hinge.")] = None,
    lr: Annotated[Optional[float], Opt("--lr")] = None,
    pool_size: Annotated[Optional[int], Opt("--pool-size", min=0)] = None,
    direction: Annotated[Optional[str], Opt("--direction", help="pix2pix: a2b or b2a.")] = None,
    domains: Annotated[Optional[str], Opt("--domains", help="Names of domains A and B, e.g. photo,monet.")] = None,
    channels_last: Annotated[Optional[bool], Opt("--channels-last/--no-channels-last", show_default=False)] = None,
    tensorboard: Annotated[Optional[bool], Opt("--tensorboard/--no-tensorboard", show_default=False)] = None,
    compile_: Annotated[Optional[bool], Opt("--compile/--no-compile", help="torch.compile the training passes (GPU speed; the first steps compile).", show_default=False)] = None,
    compile_mode: Annotated[Optional[str], Opt("--compile-mode", help="With --compile: default | reduce-overhead (adds CUDA graphs: on an H200 CycleGAN 64² trained 4.7×, MUNIT 3.1× faster than eager) | max-autotune | max-autotune-no-cudagraphs.")] = None,
    encoder: Annotated[Optional[str], Opt("--encoder", help="wct-decoder: encoders from a WCT/PhotoWCT checkpoint, a torchvision VGG-19 weights file, or 'random'.")] = None,
    masks: Annotated[Optional[str], Opt("--masks", help="inpaint: a folder of hole masks (white = hole) sampled instead of random strokes and boxes.")] = None,
    init_from: Annotated[Optional[str], Opt("--init-from", help="Fine-tune: start from this checkpoint's weights (path, bundled name, hf://).")] = None,
    sets: Annotated[Optional[list[str]], Opt("--set", help="Any other setting: --set lambda_identity=0 (repeatable).")] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a CycleGAN/MUNIT/UNIT (unpaired), pix2pix (paired) or StarGAN (labelled) model; the run's model.safetensors is what `translate`/`style-sample`/`edit -m` take.

    Examples:\n
      gantrans train datasets/horse2zebra --arch cyclegan -o runs/h2z --steps 200000\n
      gantrans train data/edges2shoes --arch munit -o runs/e2s\n
      gantrans train celeba/list_attr_celeba.txt --arch stargan --attrs Black_Hair,Blond_Hair,Male --group hair=Black_Hair,Blond_Hair -o runs/sg\n
      gantrans train --resume runs/h2z\n
      gantrans train photos/ --arch wct-decoder --encoder vgg19-dcbb9e9d.pth -o runs/wct\n
      torchrun --nproc_per_node 4 -m gantrans train data --arch cyclegan -o runs/x
    """
    with handle_errors():
        plan = use_threads(threads, passive=False)
        from gantrans.train.config import TrainConfig, resolve_config

        flags: dict[str, Any] = {
            "dataset": dataset, "output": output, "steps": steps, "batch_size": batch_size, "crop_size": size,
            "load_size": load_size, "preprocess": preprocess, "flip": flip, "seed": seed, "device": device,
            "precision": precision, "save_every": save_every, "sample_every": sample_every, "log_every": log_every,
            "workers": workers, "netG": netG, "ngf": ngf, "ndf": ndf, "norm": norm, "dropout": dropout,
            "gan_mode": gan_mode, "lr": lr, "pool_size": pool_size, "direction": direction,
            "domains": domains.split(",") if domains else None, "channels_last": channels_last, "tensorboard": tensorboard, "compile": compile_, "compile_mode": compile_mode,
            "init_from": init_from, "masks": masks, "encoder": encoder, "datasets": datasets or None, "attrs": attrs.split(",") if attrs else None, "groups": groups or None,
        }  # fmt: skip
        if size is not None and load_size is None and not resume:
            flags["load_size"] = round(size * 286 / 256)  # keep the reference's 286/256 ratio
        for item in sets or []:
            key, sep, value = item.partition("=")
            if not sep:
                fail(f"--set {item!r}: expected NAME=VALUE")
            flags[key.strip().replace("-", "_")] = _parse_value(value.strip())
        if resume:
            from gantrans.train.state import read_config
            from gantrans.train.trainer import RESUMABLE

            saved = read_config(Path(resume))
            if saved.get("model") in registry.recipe_names():
                # runs of earlier versions saved every family's settings: those this recipe lacks had no effect
                known = TrainConfig.known(saved["model"])
                stale = sorted(k for k in saved if k not in known)
                saved = {k: v for k, v in saved.items() if k in known}
                if stale and not quiet:
                    print(f"note: --resume: ignoring {len(stale)} saved setting(s) {saved['model']} does not use ({', '.join(stale[:6])}{', ...' if len(stale) > 6 else ''})", file=sys.stderr)
            given = {k: v for k, v in flags.items() if v is not None and k not in ("output",)}
            fixed = sorted(k for k, v in given.items() if k not in RESUMABLE and saved.get(k) != v)
            if fixed:
                fail(f"--resume: cannot change {', '.join(fixed)} of an existing run (only {', '.join(sorted(RESUMABLE))})")
            cfg = TrainConfig.from_dict({**saved, **given, "output": resume})
        else:
            if not (dataset or datasets) or not output:
                fail("give DATASET (or --dataset KIND:PATH ...) and -o RUN_DIR (or --resume RUN_DIR)")
            if arch is None and config is None:
                fail(f"--arch {'|'.join(registry.recipe_names())} is required")
            cfg = resolve_config(arch or "cyclegan", config, {**flags, "model": arch})
            if (Path(output) / "train_state.pt").exists():
                fail(f"{output} already holds a run; continue it with --resume {output} or choose another -o")
        if dry_run:
            print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
            raise typer.Exit(EXIT_OK)

        from gantrans.train.state import dist_env
        from gantrans.train.trainer import Interrupted, NonFiniteLoss
        from gantrans.train.trainer import train as run_train

        rank, world = dist_env()[0], dist_env()[1]
        talk = rank == 0 and not quiet
        stop = {"asked": False}

        def on_sigint(signum: int, frame: Any) -> None:
            if stop["asked"]:
                raise KeyboardInterrupt
            stop["asked"] = True
            if rank == 0:
                print("stopping after this step and saving (Ctrl-C again to abort without saving)", file=sys.stderr)

        signal.signal(signal.SIGINT, on_sigint)
        progress = _Progress(talk)
        from gantrans.engine.threads import adapting

        try:
            with adapting(plan):  # other processes come and go: the pool follows the free cores
                result = run_train(
                    cfg, resume=bool(resume), on_log=progress.log,
                    on_info=(lambda m: print(m, file=sys.stderr)) if talk else None,
                    should_stop=lambda step: stop["asked"],
                )  # fmt: skip
        except NonFiniteLoss as e:
            progress.close()
            fail(str(e), 1)
        except Interrupted as e:
            progress.close()
            if rank == 0:
                print(f"interrupted at step {e.step}; state saved. Continue with: gantrans train --resume {cfg.output}", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        progress.close()
        if talk:
            print(f"done: step {result.step}; model {result.model}", file=sys.stderr)
        if rank == 0 and result.model:
            print(result.model)
        if world > 1:
            # Under torchrun, gloo's threads can still be alive when the interpreter tears C++ statics
            # down, which aborts a finished run ("terminate called without an active exception", about
            # 1 run in 16 even after destroy_process_group): everything is saved and flushed, so leave now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_OK)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"true": True, "false": False}.get(text.lower(), text)


class _Progress:
    """A rich progress line on a terminal, else one plain line per logged step (stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def log(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        losses = " ".join(f"{k} {v:.3f}" for k, v in row.items() if k not in ("step", "total", "lr", "it_s", "time"))
        if err.is_terminal:
            if self.bar is None:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

                self.bar = Progress(BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.description}"), console=err)
                self.task = self.bar.add_task("", total=row["total"], rate="")
                self.bar.start()
            self.bar.update(self.task, completed=row["step"], description=losses, rate=f"{row['it_s']:.2f} it/s")
        else:
            print(f"step {row['step']}/{row['total']} {row['it_s']:.2f} it/s lr {row['lr']:.2e} {losses}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
