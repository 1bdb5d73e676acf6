"""Super-resolution on the batch pipeline: `gantrans upscale` (the translate task at the model's scale, then
an optional resize to any `outscale`, as Real-ESRGAN's `--outscale`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from gantrans.engine.batch import BatchOptions, TranslateTask
from gantrans.engine.pipeline import Output, Work
from gantrans.engine.translator import Translator
from gantrans.errors import UsageError


class UpscaleTask(TranslateTask):
    """One output per input, `outscale` (default: the model's scale) times its size; alpha is resized
    to the output when it is written (bicubic)."""

    def __init__(self, t: Translator, opts: BatchOptions, outscale: float | None = None) -> None:
        super().__init__(t, opts)
        if outscale is not None and not 0 < outscale <= 16:
            raise UsageError(f"--outscale must be in (0, 16], got {outscale}")
        self.outscale = outscale

    def produce(self, works: Sequence[Work]) -> list[list[Output]]:
        outs = super().produce(works)
        if self.outscale is None or self.outscale == self.t.scale:
            return outs
        resized = []
        for w, ((tag, arr),) in zip(works, outs):
            assert w.decoded is not None
            h, wd = w.decoded.pixels.shape[:2]
            size = (max(1, round(wd * self.outscale)), max(1, round(h * self.outscale)))
            img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).resize(size, Image.Resampling.LANCZOS)
            a = np.asarray(img)
            resized.append([(tag, np.ascontiguousarray(a[..., None] if a.ndim == 2 else a))])
        return resized
