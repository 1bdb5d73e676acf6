"""Convolution and instance-norm layers with a faster CPU inference path; same parameters and results as PyTorch's.

Networks are built from PyTorch's stock layers; the engine calls `accelerate(net)` when it loads a model for
inference (and the trainer for its generators' sample grids), which swaps each stock `nn.Conv2d`,
`nn.ConvTranspose2d` and `nn.InstanceNorm2d` for the subclass here in place: same parameters, keys and
state, another `forward`. `unaccelerate(net)` swaps them back.

Measured on the pix2pix U-Net (benchmarks/RESULTS.md, "translate: unet_256"): PyTorch's eager oneDNN call
re-lays out the weight on every call (for a 33 MB weight at 2x2..8x8 that costs 3-10x the convolution
itself) and converts NCHW activations to a blocked layout and back. Here, for float32 inference on CPU
and for bf16 autocast inference (input, weight and bias cast to bf16 as autocast casts them):

- oneDNN with the weight laid out once and kept (re-done when the weight, its storage or the input
  shape changes) and channels-last activations (oneDNN's native layout: no copies);
- transposed convolutions to fewer taps than input channels (an RGB output layer): one matrix product
  over all pixels, then `fold` (col2im) sums the overlapping taps -- 2-3x faster than oneDNN's
  3-channel kernels.

The kept layout costs one more copy of each weight in memory (218 MB for unet_256), made on the first
inference call. Anything else (training, autograd, CUDA, fp16, torch.compile or ONNX tracing, groups, dilation,
non-zero padding modes) takes the plain PyTorch call. A failure of the oneDNN ops (an older or
newer torch without them) switches that path off for the process and falls back.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

ENABLED = True  # set False to run the plain PyTorch calls everywhere (tests compare both)
_onednn_ok = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


@contextlib.contextmanager
def plain() -> Iterator[None]:
    """PyTorch's own calls inside (e.g. for torch's flop counter, which knows no oneDNN ops, or a reference run)."""
    global ENABLED
    enabled, ENABLED = ENABLED, False
    try:
        yield
    finally:
        ENABLED = enabled


def _inference_cpu(x: torch.Tensor) -> bool:
    return (
        ENABLED
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.bfloat16)
        and x.dim() == 4
        and not torch.is_grad_enabled()
        and not _compiling()
        and not torch.jit.is_tracing()  # ONNX export traces the plain ops
    )


def _compiling() -> bool:
    f = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return bool(f()) if f is not None else bool(torch._dynamo.is_compiling())


@functools.cache
def bf16_native() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX-512 BW/VL/DQ or AVX-NE-CONVERT); without them bf16 is
    emulated, slower than fp32, and the layers here leave bf16 autocast to PyTorch's own call."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the private op
        return False


def _cpu_autocast_dtype() -> torch.dtype | None:
    """The CPU autocast dtype while autocast is on, else None (both APIs: torch >= 2.4 and older)."""
    if hasattr(torch, "get_autocast_dtype"):
        return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None


def _compute_dtype(mod: nn.Module, x: torch.Tensor) -> torch.dtype | None:
    """The dtype the convolution computes in (fp32, or bf16 under CPU bf16 autocast, which casts input,
    weight and bias as autocast does), or None where the plain call should run."""
    if not (
        _inference_cpu(x)
        and x.shape[1] == mod.in_channels  # a wrong input gets PyTorch's own error (and keeps the path on)
        and mod.weight.dtype == torch.float32
        and mod.groups == 1
        and tuple(mod.dilation) == (1, 1)
        and mod.padding_mode == "zeros"
        and isinstance(mod.padding, tuple)
    ):
        return None
    autocast = _cpu_autocast_dtype()
    if autocast is not None:
        return torch.bfloat16 if autocast == torch.bfloat16 and bf16_native() else None  # no failed weight packing per call
    return torch.float32 if x.dtype == torch.float32 else None


def _cast(t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if t is None else t.to(dtype)


def _bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias.view(1, -1, 1, 1)


class _Packed:
    """The weight in oneDNN's layout (an opaque tensor) for one weight tensor, version, input shape and dtype.

    A cache, not state: copies and pickles of a module start empty (the opaque tensor has no storage to copy),
    and `.to()` / `.cuda()` / `.half()` drop it (`_KeepsPacked._apply`).
    """

    def __init__(self) -> None:
        self.src: torch.Tensor | None = None  # the weight it was made from (identity, not address: no reuse mix-ups)
        self.key: tuple | None = None
        self.weight: torch.Tensor | None = None

    def get(self, weight: torch.Tensor, shape: torch.Size, dtype: torch.dtype, pack) -> torch.Tensor:
        key = (tuple(shape), dtype, weight._version)
        if weight is not self.src or key != self.key:
            self.weight, self.src, self.key = pack(), weight, key
        return self.weight

    def __deepcopy__(self, memo: dict) -> "_Packed":
        return _Packed()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


def _packed(mod: nn.Module) -> _Packed:
    if "_packed" not in mod.__dict__:
        mod._packed = _Packed()
    return mod._packed


def _onednn(mod: nn.Module, x: torch.Tensor, dt: torch.dtype, pack: Callable, run: Callable) -> torch.Tensor | None:
    """Run `run(x_channels_last, kept_weight)`, laying the weight out with `pack(x)` when needed; None (and the
    path off for the process) if the private oneDNN ops are missing or changed."""
    global _onednn_ok
    if not _onednn_ok:
        return None
    try:
        x = x.to(dt).contiguous(memory_format=torch.channels_last)
        return run(x, _packed(mod).get(mod.weight, x.shape, dt, lambda: pack(x)))
    except AttributeError:  # the private ops are gone from this torch: off for the process
        _onednn_ok = False
        return None
    except RuntimeError as e:
        # An op whose schema changed is off for the process; anything else (out of memory, an odd
        # shape) falls back for this call only and leaves the fast path on.
        if _op_missing(e):
            _onednn_ok = False
        return None


def _op_missing(e: RuntimeError) -> bool:
    text = str(e)
    return any(s in text for s in ("No such operator", "Could not run", "schema", "Expected at most", "expected at most"))


class _KeepsPacked(nn.Module):
    def _apply(self, fn, recurse: bool = True):  # .to(), .cuda(), .half(), ...: the kept layout is stale
        self.__dict__.pop("_packed", None)
        return super()._apply(fn, recurse)


class Conv2d(_KeepsPacked, nn.Conv2d):
    """nn.Conv2d (same keys, same maths) with the CPU inference paths described above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dt = _compute_dtype(self, x)
        if dt is not None:
            (sh, sw), (ph, pw), bias = self.stride, self.padding, _cast(self.bias, dt)
            y = _onednn(
                self, x, dt,
                lambda x: torch.ops.mkldnn._reorder_convolution_weight(self.weight.to(dt), [ph, pw], [sh, sw], [1, 1], 1, list(x.shape)),
                lambda x, w: torch.ops.mkldnn._convolution_pointwise(x, w, bias, [ph, pw], [sh, sw], [1, 1], 1, "none", [], ""),
            )  # fmt: skip
            if y is not None:
                return y
        return super().forward(x)


class ConvTranspose2d(_KeepsPacked, nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same keys, same maths) with the CPU inference paths described above."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        dt = _compute_dtype(self, x)
        if output_size is not None or dt is None:
            return super().forward(x, output_size)
        b, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (oph, opw) = self.kernel_size, self.stride, self.padding, self.output_padding
        ho, wo = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
        taps = self.out_channels * kh * kw
        x, bias = x.to(dt), _cast(self.bias, dt)
        if taps < c:
            # cols[b, (o, i, j), (y, x)] = sum_c W[c, o, i, j] x[b, c, y, x]; fold adds each tap into place
            cols = torch.matmul(self.weight.to(dt).reshape(c, taps).t(), x.reshape(b, c, h * w))  # (B, taps, H*W)
            y = F.fold(cols, (ho, wo), (kh, kw), stride=(sh, sw), padding=(ph, pw))  # (B, out, Ho, Wo)
            return _bias(y, bias)
        y = _onednn(
            self, x, dt,
            lambda x: torch.ops.mkldnn._reorder_convolution_transpose_weight(
                self.weight.to(dt), [ph, pw], [oph, opw], [sh, sw], [1, 1], 1, list(x.shape)),
            lambda x, w: torch.ops.mkldnn._convolution_transpose_pointwise(
                x, w, bias, [ph, pw], [oph, opw], [sh, sw], [1, 1], 1, "none", [], ""),
        )  # fmt: skip
        return y if y is not None else super().forward(x, output_size)


def instance_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor | None:
    """Instance norm of a channels-last CPU inference tensor, or None where the plain call should run.

    PyTorch's instance norm reshapes to (1, B*C, H, W), which copies a channels-last tensor twice, and a
    var_mean over H, W is slow in that layout; batch norm over one image is instance norm and has a
    vectorised channels-last kernel (17x faster than either at 256 channels, 64x64, measured)."""
    if not (_inference_cpu(x) and x.is_contiguous(memory_format=torch.channels_last)):
        return None
    ys = [F.batch_norm(x[i : i + 1], None, None, weight, bias, training=True, eps=eps) for i in range(x.shape[0])]
    return ys[0] if len(ys) == 1 else torch.cat(ys)


class InstanceNorm2d(nn.InstanceNorm2d):
    """nn.InstanceNorm2d with the channels-last CPU inference path of `instance_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = None if self.track_running_stats else instance_norm(x, self.weight, self.bias, self.eps)
        return super().forward(x) if y is None else y


_FAST: dict[type, type] = {nn.Conv2d: Conv2d, nn.ConvTranspose2d: ConvTranspose2d, nn.InstanceNorm2d: InstanceNorm2d}
_STOCK: dict[type, type] = {v: k for k, v in _FAST.items()}


def accelerate(net: nn.Module) -> nn.Module:
    """Give every stock conv / transposed conv / instance norm of `net` (exactly those classes, not
    subclasses with their own forward) the CPU inference paths here, in place; returns `net`."""
    for m in net.modules():
        fast = _FAST.get(type(m))
        if fast is not None:
            m.__class__ = fast
    return net


def unaccelerate(net: nn.Module) -> nn.Module:
    """Back to PyTorch's stock layer classes (dropping any kept weight layouts), in place."""
    for m in net.modules():
        stock = _STOCK.get(type(m))
        if stock is not None:
            m.__dict__.pop("_packed", None)
            m.__class__ = stock
    return net
