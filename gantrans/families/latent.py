"""Latent-code models (VAE-GAN, BiGAN, InfoGAN): a decoder `G` from a code z to an image, an encoder `E` back
(VAE-GAN, BiGAN) and the discriminator `D` (InfoGAN's Q head reads the codes from it). `gantrans sample` draws
images from the prior (or walks a code); the prior, the noise size and InfoGAN's codes are in the checkpoint's
provenance ("latent")."""

from __future__ import annotations

from typing import Any

from gantrans.families.base import OneNetwork
from gantrans.registry import register_family


class LatentFamily(OneNetwork):
    name = "latent"
    title = "latent-code models (VAE-GAN, BiGAN, InfoGAN)"
    archs = ("dcgan_g",)
    aux_archs = ("dcgan_enc", "dcgan_d", "attr_vectors")
    model_modules = ("gantrans.models.dcgan", "gantrans.models.dcgan_enc", "gantrans.models.dcgan_d", "gantrans.models.attr_vectors")
    role = "sampler"
    commands = frozenset({"sample", "edit", "attributes"})
    recipes = {"vaegan": "gantrans.train.latent:VAEGAN", "bigan": "gantrans.train.latent:BiGAN", "infogan": "gantrans.train.latent:InfoGAN"}

    def channels(self, config: Any, direction: str) -> tuple[int, int]:
        return config.img_ch, config.img_ch


register_family(LatentFamily())
