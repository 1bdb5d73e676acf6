from __future__ import annotations

from pathlib import Path

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
