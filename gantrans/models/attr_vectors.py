"""Attribute vectors of a latent model ("intelligent photo editing"): per attribute a direction in code space,
mean(z of images with it) - mean(z of images without it), and where the two groups' codes project onto it, so an
edit can move a code from its current value to a requested one. Stored in the checkpoint beside G (header
config: the names; tensors: the vectors)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gantrans.models.layers import check_positive
from gantrans.models.registry import ArchSpec, register


@dataclass(frozen=True)
class AttrVectorsConfig:
    nz: int = 100
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_positive("nz", self.nz)


class AttrVectors(nn.Module):
    vectors: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, cfg: AttrVectorsConfig) -> None:
        super().__init__()
        self.config = cfg
        n = len(cfg.names)
        self.register_buffer("vectors", torch.zeros(n, cfg.nz))  # (n, nz) mean(with) - mean(without)
        self.register_buffer("low", torch.zeros(n))  # projection of mean(without) onto the unit direction
        self.register_buffer("high", torch.ones(n))  # projection of mean(with)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, nz) -> (B, n) each attribute's value, 0 at the "without" mean and 1 at the "with" mean
        unit = self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-8)
        return (z @ unit.t() - self.low) / (self.high - self.low).clamp_min(1e-8)


register(
    ArchSpec(
        name="attr_vectors", config_cls=AttrVectorsConfig, build=AttrVectors, role="vectors",
        pad_multiple=lambda cfg: 1, defaults={}, description="attribute vectors of a latent model (edit directions)",
    )
)  # fmt: skip
