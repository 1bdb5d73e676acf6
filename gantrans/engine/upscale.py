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
from gantrans.io.images import Decoded

ALPHA_UPSAMPLERS = ("model", "bicubic")


class UpscaleTask(TranslateTask):
    """One output per input, `outscale` (default: the model's scale) times its size. An alpha plane is
    upscaled by the model too (`alpha="model"`, Real-ESRGAN's default: run as a grey image) or bicubic."""

    def __init__(self, t: Translator, opts: BatchOptions, outscale: float | None = None, alpha: str = "model") -> None:
        super().__init__(t, opts)
        if outscale is not None and not 0 < outscale <= 16:
            raise UsageError(f"--outscale must be in (0, 16], got {outscale}")
        if alpha not in ALPHA_UPSAMPLERS:
            raise UsageError(f"--alpha-upsampler must be one of {', '.join(ALPHA_UPSAMPLERS)}")
        self.outscale, self.alpha = outscale, alpha
        self.encode_on_device = outscale is None or outscale == t.scale  # else the outputs are resized on the host

    def _model_alpha(self, w: Work) -> None:
        """The alpha plane through the model as a grey image; the pipeline then writes it as it is."""
        d = w.decoded
        assert d is not None and d.alpha is not None
        a = d.alpha if d.alpha.dtype == np.uint8 else (np.clip(d.alpha, 0, 1) * 255 + 0.5).astype(np.uint8)
        n_in = self.t.channels("a2b")[0]
        grey = np.repeat(a[..., None], n_in, axis=2)  # (H, W, C)
        o = self.opts
        tiled = o.tile is not None and max(a.shape) > o.tile
        (y,) = self.t.translate_decoded([Decoded(grey, None)], "a2b", o.tile if tiled else None, o.tile_overlap)
        luma = y[..., 0] if y.shape[2] == 1 else (y.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        d.alpha = np.clip(np.round(luma), 0, 255).astype(np.uint8)

    def produce(self, works: Sequence[Work]) -> Sequence[list[Output] | Exception]:
        outs = super().produce(works)
        for w in works:
            if self.alpha == "model" and w.decoded is not None and w.decoded.alpha is not None:
                self._model_alpha(w)
        if self.outscale is None or self.outscale == self.t.scale:
            return outs
        resized: list[list[Output] | Exception] = []
        for w, out in zip(works, outs):
            if isinstance(out, Exception):
                resized.append(out)
                continue
            ((tag, arr),) = out
            assert w.decoded is not None and isinstance(arr, np.ndarray)
            h, wd = w.decoded.pixels.shape[:2]
            size = (max(1, round(wd * self.outscale)), max(1, round(h * self.outscale)))
            img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).resize(size, Image.Resampling.LANCZOS)
            a = np.asarray(img)
            resized.append([(tag, np.ascontiguousarray(a[..., None] if a.ndim == 2 else a))])
            if w.decoded.alpha is not None and w.decoded.alpha.shape[:2] != (h, wd):  # the model's alpha: resize it too
                w.decoded.alpha = np.asarray(Image.fromarray(w.decoded.alpha).resize(size, Image.Resampling.LANCZOS))
        return resized
