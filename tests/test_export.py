"""`gantrans export --format onnx`: every generator family, dynamic batch and size, checked against PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app

ort = pytest.importorskip("onnxruntime")  # in the test extra; skipped only where it cannot be installed
runner = CliRunner()


@pytest.mark.parametrize(
    "arch,config",
    [("resnet_6blocks", {"ngf": 4, "n_blocks": 2}), ("munit", {"dim": 8, "mlp_dim": 16, "n_res": 1, "output_nc": 1}),
     ("unit", {"dim": 8, "n_res": 1}), ("stargan", {"conv_dim": 8, "repeat_num": 1, "c_dim": 3}),
     ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}), ("srvgg_compact", {"num_feat": 8, "num_conv": 2}), ("gated_inpaint", {"cnum": 8}),
     pytest.param("gated_inpaint", {"cnum": 8, "prefill": "diffusion", "blend": "poisson"}, marks=pytest.mark.slow)],  # 25-40 s on 2 cores
)  # fmt: skip
def test_export_matches_pytorch(tmp_path, arch, config):
    config = dict(config)
    config.pop("n_blocks", None)
    src = tmp_path / "m.safetensors"
    gantrans.build(arch, device="cpu", seed=2, **config).save(src)
    out = tmp_path / "m.onnx"
    r = runner.invoke(app, ["export", "-m", str(src), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.strip().splitlines()[-1])
    tol = 1e-3 if config.get("prefill") == "diffusion" else 1e-4  # the fill: many sweeps of float32 sums
    assert row["max_abs_diff_vs_pytorch"] < tol
    want = {"munit": ["image", "style"], "stargan": ["image", "label"], "gated_inpaint": ["image", "mask"]}.get(arch, ["image"])
    assert list(row["inputs"]) == want
    # dynamic batch and size, run independently of the CLI's own check
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == want
    m = gantrans.load(str(src), device="cpu")
    x = torch.rand(3, 3, 24, 40)
    feeds = {"image": x.numpy()}
    hole = torch.zeros(3, 1, 24, 40)
    hole[..., 4:16, 8:30] = 1
    cond = m.random_styles([5, 6, 7]) if arch == "munit" else torch.eye(3) if arch == "stargan" else hole if arch == "gated_inpaint" else None
    if cond is not None:
        feeds[want[1]] = cond.numpy()
    y = s.run(None, feeds)[0]
    s_ = m.scale  # super-resolution models: the output is scale times larger
    assert y.shape == (3, 1 if arch == "munit" else 3, 24 * s_, 40 * s_)
    assert np.abs(y - m.run(x, "a2b", cond).numpy()).max() < tol
    assert runner.invoke(app, ["export", "-m", str(src), "-o", str(out)]).exit_code == 2  # exists


def test_export_of_a_model_with_its_own_smoothing_says_it_is_left_out(tmp_path):
    """The graph is the generator alone: it matches `--smooth none`, and the CLI says the post-processing is not in it."""
    t = gantrans.build("resnet_6blocks", device="cpu", seed=2, ngf=4)
    t.checkpoint.postprocess = {"smooth": "guided", "radius": 2, "eps": 0.01}
    src = t.save(tmp_path / "m.safetensors")
    r = runner.invoke(app, ["export", "-m", str(src), "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert "post-processing" in r.stderr and '"smooth": "guided"' in r.stderr
    x = torch.rand(1, 3, 24, 32)
    y = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    m = gantrans.load(str(src), device="cpu")
    assert np.abs(y - m.smooth("none").run(x).numpy()).max() < 1e-4
    assert np.abs(y - m.smooth("auto").run(x).numpy()).max() > 1e-3  # the smoothed output differs: the note matters
