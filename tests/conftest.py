from __future__ import annotations

import os
from pathlib import Path

# Before torch loads (as the CLI does): idle OpenMP threads sleep instead of spinning, so the suite does not
# collapse beside other CPU load, and the subprocesses it starts inherit the policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch
from helpers import tiny


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    tiny("resnet_6blocks").save(path)
    return path


@pytest.fixture(scope="session")
def one_way_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "oneway.safetensors"
    tiny("unet_128", directions=("a2b",)).save(path)
    return path
