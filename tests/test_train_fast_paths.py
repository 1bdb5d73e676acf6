"""Training without per-step host syncs, `--compile`, fused Adam: the parts of the GPU-throughput work that a
CPU can check (the speed itself is measured by benchmarks/train_bench.py on a GPU)."""

from __future__ import annotations

import copy
import json
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode

import gantrans.train.trainer as T
from gantrans import registry
from gantrans.train.config import resolve_config
from gantrans.train.trainer import Trainer, train

aten = torch.ops.aten
# ops whose outputs are host-side random draws (CPU generators: image pools, StarGAN's permutation)
RANDOM_OPS = {aten.rand, aten.randint, aten.randperm, aten.random_, aten.uniform_}


class HostReads(TorchDispatchMode):
    """Records every tensor -> Python scalar read (item, float, bool, int, tolist: aten._local_scalar_dense) that
    gantrans makes, of a value that is not on the host anyway (a random draw of a CPU generator, a batch entry
    the recipe keeps on the host): on a GPU each such read waits for the device.
    torch.optim's own reads are not counted: the step counters of the foreach Adam live on the host by design, and
    the fused Adam used on CUDA reads nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.host_ids: set[int] = set()
        self.kept: list[torch.Tensor] = []  # alive, so that their ids are not reused
        self.reads: list[str] = []

    def mark(self, t: torch.Tensor) -> None:
        self.host_ids.add(id(t))
        self.kept.append(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in RANDOM_OPS:
            self.mark(out)
        elif func is aten.select.int or func is aten.view.default or func is aten.lt.Scalar or func is aten.gt.Scalar:
            if args and isinstance(args[0], torch.Tensor) and id(args[0]) in self.host_ids:
                self.mark(out)  # a view of / comparison on a host value stays on the host
        elif func is aten._local_scalar_dense.default and id(args[0]) not in self.host_ids:
            files = [f.filename.replace("\\", "/") for f in traceback.extract_stack()]
            if not any("/torch/optim/" in f for f in files) and any("/gantrans/" in f for f in files):
                self.reads.append(f"{args[0].dtype} {tuple(args[0].shape)}")
        return out


def images(root: Path, n: int = 4, size: int = 64, seed: int = 0) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).save(root / f"{i}.png")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fast")
    for sub in ("trainA", "trainB", "paired/A", "paired/B", "photos", "labelled/train/dark", "labelled/train/light"):
        images(root / sub, seed=len(sub))
    return root


CASES = {
    "cyclegan": ("", {"ngf": 4, "ndf": 4, "n_layers_D": 2, "crop_size": 32, "load_size": 32}),
    "pix2pix": ("paired", {"ngf": 4, "ndf": 4, "n_layers_D": 2, "crop_size": 32, "load_size": 32, "netG": "resnet_6blocks"}),
    "munit": ("", {"ngf": 8, "ndf": 4, "n_layers_D": 2, "num_scales": 2, "n_res": 1, "crop_size": 32, "load_size": 32, "mlp_dim": 16}),
    "unit": ("", {"ngf": 8, "ndf": 4, "n_layers_D": 2, "num_scales": 2, "n_res": 1, "crop_size": 32, "load_size": 32}),
    "stargan": ("labelled", {"ngf": 8, "ndf": 8, "repeat_num": 1, "d_repeat_num": 3, "crop_size": 32, "load_size": 32, "n_critic": 1}),
    "inpaint": ("photos", {"cnum": 8, "ndf": 4, "crop_size": 64, "load_size": 64}),
}


def config(data: Path, out: Path, arch: str, **over):  # type: ignore[no-untyped-def]
    sub, own = CASES[arch]
    base = {"dataset": str(data / sub), "output": str(out), "batch_size": 2, "workers": 0, "device": "cpu", "log_every": 1, "steps": 4}
    return resolve_config(arch, None, {**base, **own, **over})


def trainer(cfg):  # type: ignore[no-untyped-def]
    """A Trainer for `cfg` (on its device) and its first batch."""
    recipe = registry.recipe_class(cfg.model)(cfg)
    recipe.open_data(lambda _m: None)
    stream = recipe.stream()
    batch = torch.utils.data.default_collate([stream[i] for i in range(cfg.batch_size)])
    return Trainer(recipe, torch.device(cfg.device), torch.float32, 1, lambda _m: None), batch


@pytest.mark.parametrize("arch", list(CASES))
def test_a_training_step_reads_nothing_back_from_the_device(data, tmp_path, arch):
    """Losses come back as device tensors and the NaN check stays on the device: a step makes no host read."""
    cfg = config(data, tmp_path / "run", arch)
    tr, batch = trainer(cfg)
    recipe = tr.recipe
    with HostReads() as probe:
        for k in recipe.host_keys:
            probe.mark(batch[k])
        for i in range(2):
            losses = tr.step(batch, cfg.lr, i)
    assert probe.reads == [], f"{arch}: host reads during a step: {probe.reads}"
    assert losses and all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in losses.values())
    assert tr.ctx.first_nonfinite() is None


def test_the_host_read_probe_sees_a_read(data, tmp_path):
    """The probe above is not blind: nan_policy=skip decides on the host, one read per optimizer update."""
    cfg = config(data, tmp_path / "run", "cyclegan", nan_policy="skip")
    tr, batch = trainer(cfg)
    with HostReads() as probe:
        tr.step(batch, cfg.lr, 0)
    assert probe.reads == ["torch.float32 (1,)"] * 2  # the G and the D update


def test_nan_under_stop_is_caught_at_the_next_log_with_its_step(data, tmp_path, monkeypatch):
    """The NaN check is deferred to the log/save points but still names the step and saves nothing after it."""
    run = tmp_path / "run"
    train(config(data, run, "cyclegan", steps=2, save_every=2, log_every=2))
    good = (run / "train_state.pt").read_bytes()
    import gantrans.train.cyclegan as R

    real, calls = R.F.l1_loss, {"n": 0}

    def l1(a, b):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(a, b) * (float("nan") if calls["n"] > 4 else 1.0)  # NaN from the second resumed step on (4 L1 terms a step)

    monkeypatch.setattr(R.F, "l1_loss", l1)
    with pytest.raises(T.NonFiniteLoss, match=r"NaN or Inf at step 4; .*last good checkpoint \(step 2\) is kept"):
        train(config(data, run, "cyclegan", steps=6, save_every=6, log_every=3), resume=True)  # checks at 3 (log) and 6
    assert (run / "train_state.pt").read_bytes() == good
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3]  # step 3 (finite) was logged; nothing after the NaN


def test_compile_fallback_says_why_and_trains_as_eager(data, tmp_path, monkeypatch):
    said: list[str] = []
    eager = train(config(data, tmp_path / "eager", "cyclegan"))
    monkeypatch.setattr(T, "compile_unavailable", lambda device: "no C++ compiler found")
    fell = train(config(data, tmp_path / "fell", "cyclegan", compile=True), on_info=said.append)
    assert "--compile: torch.compile cannot be used here (no C++ compiler found); training without it" in said
    assert eager.model is not None and fell.model is not None
    assert _weights(eager.model) == _weights(fell.model)


def test_own_outputs_copies_every_output_tensor_and_keeps_gradients():
    """The CUDA-graph guard: outputs (a tensor, or tuples of them: MUNIT's encode) come back in fresh memory with
    the same values, and gradients still reach the inputs through the copy."""
    store = {}

    def fn(x):  # type: ignore[no-untyped-def]
        store["out"] = (x * 2, (x + 1, "tag"))
        return store["out"]

    x = torch.ones(3, requires_grad=True)
    a, (b, tag) = T.own_outputs(fn)(x)
    assert tag == "tag" and torch.equal(a, store["out"][0]) and torch.equal(b, store["out"][1][0])
    assert a.data_ptr() != store["out"][0].data_ptr() and b.data_ptr() != store["out"][1][0].data_ptr()
    (a.sum() + b.sum()).backward()
    assert torch.equal(x.grad, torch.full((3,), 3.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_graph_compiled_cyclegan_trains(data, tmp_path):
    """compile_mode=reduce-overhead (CUDA graphs): the identity term calls G_B after fake_A and the pools keep
    fakes, which broke on an H200 before own_outputs; now the run finishes with finite losses."""
    rows: list = []
    train(config(data, tmp_path / "run", "cyclegan", device="cuda", compile=True, compile_mode="reduce-overhead", steps=6), on_log=rows.append)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(np.isfinite(v) for r in rows for k, v in r.items() if k in ("G_A", "D_A", "cycle_A", "idt_A"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_image_pool_stays_on_the_device_and_saves_to_the_host():
    """No host copy per image and step (a sync each); the state file still holds CPU tensors."""
    from gantrans.train.losses import ImagePool

    pool = ImagePool(4, seed=0)
    for _ in range(3):
        out = pool.query(torch.rand(2, 3, 8, 8, device="cuda"))
    assert out.device.type == "cuda" and all(t.device.type == "cuda" for t in pool.images)
    assert all(t.device.type == "cpu" for t in pool.state_dict()["images"])


def test_compile_mode_is_checked_and_resumable(data, tmp_path):
    from gantrans.errors import UsageError

    with pytest.raises(UsageError, match="compile_mode must be one of default, reduce-overhead"):
        config(data, tmp_path / "x", "cyclegan", compile_mode="fast")
    assert {"compile", "compile_mode"} <= T.RESUMABLE


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["cyclegan", "munit"])
def test_compiled_training_matches_eager(data, tmp_path, arch):
    """torch.compile (inductor, C++ on CPU) gives the eager run's losses and an equivalent model; parameter names
    are unchanged, so the checkpoint loads strictly. (About a minute of compiling per case on 2 cores.)"""
    if T.compile_unavailable(torch.device("cpu")):
        pytest.skip(f"torch.compile unusable here: {T.compile_unavailable(torch.device('cpu'))}")
    logs: dict[str, list] = {"eager": [], "compiled": []}
    for name in logs:
        train(config(data, tmp_path / name, arch, compile=name == "compiled"), on_log=logs[name].append)
    for a, b in zip(logs["eager"], logs["compiled"]):
        for k in a:
            if k not in ("it_s", "time", "total", "step", "lr"):
                assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-4), k
    import gantrans

    x = torch.rand(1, 3, 32, 32) * 2 - 1
    outs = []
    for name in logs:
        model = gantrans.load(str(tmp_path / name / "model.safetensors"), device="cpu")
        net = next(iter(model.checkpoint.networks.values()))
        with torch.no_grad():
            outs.append(net(x) if arch == "cyclegan" else net.gen_a(x))
    assert torch.allclose(outs[0], outs[1], atol=5e-3)


def _weights(path: Path) -> dict[str, bytes]:
    from safetensors.torch import load_file

    return {k: v.numpy().tobytes() for k, v in load_file(path).items()}


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))])
def test_adam_is_fused_on_cuda_only(data, tmp_path, device):
    tr = trainer(config(data, tmp_path / "run", "cyclegan", device=device))[0]
    # CUDA: one kernel per update and GradScaler's inf check handed to it; CPU: the default (foreach) Adam, as before
    assert bool(tr.ctx.opt_G.param_groups[0]["fused"]) == (device == "cuda")


def test_an_unfused_adam_state_continues_fused():
    """What resuming a CPU run on CUDA does to the optimizer: its state loads into Adam, which is then switched to
    fused; the next update equals the unfused one (CPU has a fused Adam too, so this runs here)."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, 3))
    opt = torch.optim.Adam([w], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    saved = opt.state_dict()
    results = []
    for fused in (False, True):
        v = torch.nn.Parameter(w.detach().clone())
        o = torch.optim.Adam([v], lr=0.1)
        o.load_state_dict(copy.deepcopy(saved))  # Adam updates its loaded state in place
        T._set_fused(o, fused)
        o.zero_grad()
        (v**2).sum().backward()
        o.step()
        results.append(v.detach())
    assert torch.allclose(results[0], results[1], atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_cpu_run_resumes_on_cuda(data, tmp_path):
    train(config(data, tmp_path / "run", "cyclegan", steps=2, save_every=2))
    res = train(config(data, tmp_path / "run", "cyclegan", steps=4, save_every=2, device="cuda"), resume=True)
    assert res.step == 4
