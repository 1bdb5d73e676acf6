"""The checkpoint format: self-describing header, strict loading, one-line errors, no pickle."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from helpers import FileCreator, tiny
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import gantrans
from gantrans.io.checkpoint import CheckpointError, load_checkpoint, read_metadata


def test_header_describes_the_model(model_path):
    with safe_open(str(model_path), framework="pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert meta["format"] == "gantrans" and meta["format_version"] == "1"
    assert meta["arch"] == "resnet_6blocks"
    cfg = json.loads(meta["config"])
    assert cfg["ngf"] == 4 and cfg["n_blocks"] == 2 and cfg["norm"] == "instance"
    assert json.loads(meta["networks"]) == ["G_A", "G_B"]
    assert json.loads(meta["domains"]) == ["A", "B"]
    assert json.loads(meta["preprocess"]) == {"size": 256, "mean": [0.5] * 3, "std": [0.5] * 3}
    assert meta["gantrans_version"] == gantrans.__version__
    assert any(k.startswith("G_A.model.") for k in keys) and any(k.startswith("G_B.model.") for k in keys)


def test_provenance_and_license_round_trip(tmp_path):
    m = tiny()
    m.checkpoint.provenance = {"source": "x.pth", "sha256": "ab" * 32}
    m.checkpoint.license = "CC-BY-4.0"
    ck = load_checkpoint(m.save(tmp_path / "m.safetensors"))
    assert ck.provenance["sha256"] == "ab" * 32 and ck.license == "CC-BY-4.0"


def _rewrite(src, dst, tensors=None, **meta_changes):
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(src)) if tensors is None else tensors
    for k, v in meta_changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_mismatch_lists_missing_unexpected_and_misshaped(model_path, tmp_path):
    t = load_file(str(model_path))
    t.pop("G_A.model.1.bias")
    t["G_A.model.99.weight"] = torch.zeros(1)
    t["G_A.model.4.weight"] = torch.zeros(3, 3, 3, 3)
    bad = _rewrite(model_path, tmp_path / "bad.safetensors", tensors=t)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(bad)
    msg = str(e.value)
    assert "missing keys: model.1.bias" in msg
    assert "unexpected keys: model.99.weight" in msg
    assert "mis-shaped keys (file != model): model.4.weight (3, 3, 3, 3) != (8, 4, 3, 3)" in msg
    assert '"ngf": 4' in msg and "G_A" in msg  # the config it tried


def test_metadata_disagreeing_with_tensors(model_path, tmp_path):
    bad = _rewrite(model_path, tmp_path / "bad.safetensors", config=json.dumps({"ngf": 8, "n_blocks": 2}))
    with pytest.raises(CheckpointError, match="mis-shaped keys"):
        load_checkpoint(bad)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"arch": "resnet_12blocks"}, "unknown architecture 'resnet_12blocks'"),
        ({"format_version": "7"}, "checkpoint format version '7'"),
        ({"format": None}, "has no gantrans metadata"),
        ({"config": "{not json"}, "metadata 'config' is not valid JSON"),
        ({"networks": "[]"}, "non-empty list"),
        ({"config": "[1, 2]"}, "the config must be an object of fields"),
        ({"config": '{"ngf": true}'}, "config field 'ngf' must be a int, got True"),
        ({"preprocess": '{"size": 64, "mean": "0.5", "std": [0.5]}'}, r"preprocess.mean must be a list of 1 or 3 numbers"),
        ({"preprocess": '{"size": 64, "mean": [0.5], "std": [0]}'}, r"preprocess.std must be > 0"),
        ({"domains": '"AB"'}, "metadata 'domains' must be a list of names"),
        ({"provenance": "[]"}, "metadata 'provenance' must be a JSON object"),
        ({"postprocess": '{"smooth": "guided", "radius": 0, "eps": 0.001}'}, "metadata postprocess must be"),
        ({"postprocess": '{"smooth": "median", "radius": 2, "eps": 0.001}'}, "metadata postprocess must be"),
        ({"postprocess": '{"smooth": "guided", "radius": 2, "eps": 0.001, "threshold": -1}'}, "metadata postprocess must be"),
        ({"postprocess": '{"smooth": "guided", "radius": 2, "eps": 0.001, "sigma": 1}'}, "metadata postprocess must be"),
    ],
)
def test_bad_metadata(model_path, tmp_path, change, message):
    bad = _rewrite(model_path, tmp_path / "bad.safetensors", **change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)


def test_absurd_config_is_refused_at_once(model_path, tmp_path):
    """Sizes from a damaged or hostile header are refused before anything is built or allocated."""
    import time

    for config, message in (({"ngf": 1500, "n_blocks": 2}, "ngf=1500 is implausible"), ({"ngf": 4, "n_blocks": 10**6}, "n_blocks=1000000 is implausible")):
        bad = _rewrite(model_path, tmp_path / "absurd.safetensors", config=json.dumps(config))
        t0 = time.perf_counter()
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(bad)
        assert time.perf_counter() - t0 < 5  # generous: a real build of these would take minutes and gigabytes
    # plausible sizes that disagree with the tensors: found from the header, on the meta device
    bad = _rewrite(model_path, tmp_path / "wide.safetensors", config=json.dumps({"ngf": 512, "n_blocks": 60}))
    with pytest.raises(CheckpointError, match="mis-shaped keys"):
        load_checkpoint(bad)


@pytest.mark.parametrize("dtype,name", [(torch.int64, "I64"), (torch.bool, "BOOL"), (torch.float8_e4m3fn, "F8_E4M3")])
def test_weights_of_a_non_float_dtype_are_refused(model_path, tmp_path, dtype, name):
    t = load_file(str(model_path))
    t["G_A.model.1.weight"] = t["G_A.model.1.weight"].to(dtype)
    bad = _rewrite(model_path, tmp_path / "dtype.safetensors", tensors=t)
    with pytest.raises(CheckpointError, match=rf"\[G_A, .*unsupported dtype .*: model\.1\.weight \({name}\)"):
        load_checkpoint(bad)


def test_truncated_and_garbage_files(model_path, tmp_path):
    data = model_path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 5)
    for name in ("trunc", "junk"):
        with pytest.raises(CheckpointError, match="safetensors"):
            load_checkpoint(tmp_path / f"{name}.safetensors")


def test_nan_weights_refused(model_path, tmp_path):
    t = load_file(str(model_path))
    t["G_B.model.1.weight"][0, 0, 0, 0] = float("nan")
    bad = _rewrite(model_path, tmp_path / "nan.safetensors", tensors=t)
    with pytest.raises(CheckpointError, match="NaN or Inf values in G_B.model.1.weight"):
        load_checkpoint(bad)


def test_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    pth = tmp_path / "latest_net_G.pth"
    pth.write_bytes(pickle.dumps(FileCreator(marker)))
    with pytest.raises(CheckpointError, match="gantrans convert"):
        read_metadata(pth)
    renamed = tmp_path / "evil.safetensors"
    renamed.write_bytes(pickle.dumps(FileCreator(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(renamed)
    assert not marker.exists()
