"""The family registry: every architecture has one owner, names come without torch, converters are found
by their keys, recipe options are the recipe's own, and only usage errors exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import typer
from typer.testing import CliRunner

import gantrans
from gantrans import registry
from gantrans.cli.common import handle_errors
from gantrans.cli.main import app
from gantrans.errors import UsageError
from gantrans.models.registry import list_archs
from gantrans.train.config import resolve_config

runner = CliRunner()


def test_every_architecture_has_exactly_one_family():
    owned = [a for f in registry.families() for a in f.archs + f.aux_archs]
    assert sorted(owned) == sorted(set(owned)) == list_archs()
    for fam in registry.families():
        for arch in fam.archs:
            assert registry.family_of(arch) is fam


def test_family_names_are_listed_without_torch():
    code = "import sys; from gantrans import registry; print(registry.recipe_names(), list(registry.converters())); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "cyclegan" in out[0] and "photowct" in out[0] and out[1] == "False"


@pytest.mark.parametrize(
    "arch,config,expected",
    [("resnet_6blocks", {"ngf": 4, "n_blocks": 6}, "cyclegan"), ("unet_128", {"ngf": 4}, "pix2pix"), ("stargan", {"conv_dim": 8, "repeat_num": 1, "c_dim": 5}, "stargan")],
)
def test_convert_without_from_recognises_the_keys(tmp_path, arch, config, expected):
    model = gantrans.build(arch, directions=("a2b",), **config)
    src = tmp_path / ("200000-G.ckpt" if arch == "stargan" else "latest_net_G.pth")
    torch.save(model.generator("a2b").state_dict(), src)
    out = tmp_path / "m.safetensors"
    r = runner.invoke(app, ["convert", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"recognised as --from {expected}" in r.stderr
    x = torch.rand(1, 3, 16, 16)
    cond = None if expected != "stargan" else torch.tensor([[1.0, 0, 0, 1, 0]])
    assert torch.equal(gantrans.load(str(out), device="cpu").run(x, "a2b", cond), model.run(x, "a2b", cond))


def test_convert_of_an_unknown_layout_is_a_usage_error(tmp_path):
    torch.save({"some.weight": torch.zeros(2)}, tmp_path / "odd.pth")
    r = runner.invoke(app, ["convert", str(tmp_path / "odd.pth"), "-o", str(tmp_path / "o.safetensors")])
    assert r.exit_code == 2 and "no converter recognises its keys" in r.stderr
    assert not (tmp_path / "o.safetensors").exists()


def test_recipe_options_belong_to_their_recipe():
    assert resolve_config("cyclegan", None, {"pool_size": 3}).pool_size == 3
    with pytest.raises(UsageError, match="unknown setting 'pool_size' for munit"):
        resolve_config("munit", None, {"pool_size": 3})
    with pytest.raises(UsageError, match="unknown setting 'lambda_gp' for unit"):
        resolve_config("unit", None, {"lambda_gp": 5.0})  # UNIT has no gradient penalty to weigh


@pytest.mark.parametrize("error,code", [(UsageError("bad option"), 2), (ValueError("internal"), 1)])
def test_only_usage_errors_exit_2(error, code, capsys):
    with pytest.raises(typer.Exit) as e:
        with handle_errors():
            raise error
    assert e.value.exit_code == code
    assert str(error) in capsys.readouterr().err
