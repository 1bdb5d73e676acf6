"""`--codec device` for the one-output tasks (translate, upscale, inpaint): a group's JPEGs decoded in one call on
the model's device, and its JPEG outputs encoded there (`gantrans.io.jpeg`).

A task's peek() leaves a JPEG undecoded (`Decoded.jpeg`); its stage() decodes the group one group ahead, on the
pipeline's staging thread (`decode_group`); its produce() takes the staged images (`take_images`), runs the model on
the device and hands the results to `deliver`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from gantrans.engine.pipeline import Output, Work
from gantrans.io.images import SAVE_FORMATS, open_image
from gantrans.io.jpeg import Encoded, decode_jpegs, encode_jpegs

if TYPE_CHECKING:
    from gantrans.engine.translator import Translator

HOST_NOTE = "decoded on the host (the device's JPEG decoder could not read it)"


class DeviceDecoding:
    """A one-output task's side of the device codec: stage() decodes a group of device JPEGs on the device (before
    Task in the bases, so its stage() is the one that runs); `direction` is the generator the pixels are for."""

    t: Translator
    max_pixels: int | None
    direction: str = "a2b"

    def stage(self, works: Sequence[Work]) -> None:
        if works[0].decoded is not None and works[0].decoded.jpeg is not None:
            for w, image in zip(works, self.decode_images(works)):
                w.staged = image

    def decode_images(self, works: Sequence[Work]) -> list[Any]:
        return decode_group(works, self.t.device, self.t.channels(self.direction)[0], self._host_pixels)

    def _host_pixels(self, work: Work) -> np.ndarray:
        assert work.decoded is not None and work.decoded.jpeg is not None
        img, notes = open_image(work.decoded.jpeg.data, self.max_pixels)
        work.decoded.notes += notes
        return self.t.prepare(img, None, self.direction, self.max_pixels).pixels


def decode_group(works: Sequence[Work], device: Any, channels: int, host_pixels: Callable[[Work], np.ndarray]) -> list[Any]:
    """(C, H, W) uint8 on `device` per input, or the exception that failed it alone. One bad JPEG fails the batched
    call; then each is decoded alone, and one the device cannot read is decoded on the host by `host_pixels` (the
    task's own host path: (H, W, C) uint8), with a note."""
    import torch

    try:
        return decode_jpegs([w.decoded.jpeg for w in works], device, channels)  # type: ignore[union-attr]
    except RuntimeError:
        if len(works) > 1:
            return [decode_group([w], device, channels, host_pixels)[0] for w in works]
    work = works[0]
    try:
        pixels = host_pixels(work)
    except Exception as e:  # noqa: BLE001 - this input fails alone
        return [e]
    assert work.decoded is not None
    work.decoded.notes.append(HOST_NOTE)
    return [torch.from_numpy(pixels).permute(2, 0, 1).to(device)]


def take_images(works: Sequence[Work], decode: Callable[[Sequence[Work]], list[Any]]) -> list[Any]:
    """The group's staged images (decoded now if stage() did not), released from the works."""
    images = [w.staged for w in works] if all(w.staged is not None for w in works) else decode(works)
    for w in works:
        w.staged = None  # the batch's device memory goes with the group
    return images


def jpeg_out(work: Work) -> bool:
    return work.out is not None and SAVE_FORMATS.get(work.out.suffix.lstrip(".").lower()) == "JPEG"


def deliver(works: Sequence[Work], results: list[Any], ys: dict[int, Any], encode: bool = True) -> list[list[Output] | Exception]:
    """Each input's one output from `ys` (index -> (C, H, W) uint8 device tensor, or an (H, W, C) array from a host
    fallback): JPEG bytes encoded on the device where its file is a JPEG (and `encode`), else an array on the host.
    `results` holds the exceptions of inputs that failed; the rest are filled in."""
    todo = [i for i, y in ys.items() if encode and jpeg_out(works[i]) and not isinstance(y, np.ndarray)]
    encoded = dict(zip(todo, encode_jpegs([ys[i] for i in todo]))) if todo else {}
    for i, y in ys.items():
        if i in encoded:
            results[i] = [("", Encoded(encoded[i], (y.shape[2], y.shape[1])))]
        else:
            results[i] = [("", y if isinstance(y, np.ndarray) else y.permute(1, 2, 0).contiguous().cpu().numpy())]
    return results
