"""The CPU inference paths of gantrans.models.cpuconv give PyTorch's results (every path, every layer kind)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gantrans
from gantrans.models import cpuconv
from gantrans.models.cpuconv import Conv2d, ConvTranspose2d, InstanceNorm2d


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item()), (a - b).abs().max().item()


@pytest.mark.parametrize(
    "b, cin, cout, k, s, p, hw",
    [
        (2, 16, 24, 4, 2, 1, 4),  # 2x2 output positions
        (2, 16, 24, 4, 2, 1, 32),
        (1, 3, 16, 7, 1, 0, 40),  # 3-channel input, no padding (ResNet's first conv after its reflection pad)
        (3, 8, 8, 3, 1, 1, 5),  # stride 1
    ],
)
def test_conv2d_paths_match_pytorch(b, cin, cout, k, s, p, hw):
    torch.manual_seed(0)
    conv = Conv2d(cin, cout, k, stride=s, padding=p)
    x = torch.randn(b, cin, hw, hw)
    with torch.inference_mode():
        _close(conv(x), F.conv2d(x, conv.weight, conv.bias, s, p))
    assert "_packed" in conv.__dict__  # the oneDNN path was taken


@pytest.mark.parametrize(
    "b, cin, cout, k, s, p, op, hw",
    [
        (2, 32, 16, 4, 2, 1, 0, 2),  # tiny map, oneDNN with its packed weight
        (2, 32, 16, 4, 2, 1, 0, 16),
        (2, 64, 3, 4, 2, 1, 0, 16),  # RGB output layer (48 taps < 64 channels): GEMM + fold
        (1, 16, 8, 3, 2, 1, 1, 12),  # ResNet's up-sampling (output_padding 1), oneDNN
        (1, 96, 8, 3, 2, 1, 1, 3),  # ... and through GEMM + fold (72 taps < 96 channels)
    ],
)
def test_conv_transpose2d_paths_match_pytorch(b, cin, cout, k, s, p, op, hw):
    torch.manual_seed(0)
    conv = ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, bias=cout != 16)
    x = torch.randn(b, cin, hw, hw)
    with torch.inference_mode():
        _close(conv(x), F.conv_transpose2d(x, conv.weight, conv.bias, s, p, op))
    assert ("_packed" in conv.__dict__) != (cout * k * k < cin)  # the path taken: oneDNN or GEMM + fold


def test_packed_weight_follows_weight_changes():
    """The kept oneDNN weight is rebuilt after load_state_dict / in-place edits and for a new input shape."""
    torch.manual_seed(0)
    conv = Conv2d(16, 16, 3, padding=1)
    x = torch.randn(1, 16, 24, 24)
    with torch.inference_mode():
        conv(x)
        conv.load_state_dict({"weight": torch.randn_like(conv.weight), "bias": conv.bias.detach().clone()})
        _close(conv(x), F.conv2d(x, conv.weight, conv.bias, 1, 1))
        conv.weight.mul_(-1)
        _close(conv(x), F.conv2d(x, conv.weight, conv.bias, 1, 1))
        x2 = torch.randn(2, 16, 20, 28)
        _close(conv(x2), F.conv2d(x2, conv.weight, conv.bias, 1, 1))


def test_training_takes_the_plain_path():
    conv = ConvTranspose2d(8, 4, 4, 2, 1)
    y = conv(torch.randn(1, 8, 2, 2))
    y.sum().backward()  # autograd through the plain op
    assert conv.weight.grad is not None and y.is_contiguous()
    assert "_packed" not in conv.__dict__  # no oneDNN layout made: PyTorch's own op ran


def test_instance_norm_fast_path():
    torch.manual_seed(0)
    x = torch.randn(3, 8, 17, 13).contiguous(memory_format=torch.channels_last) * 5 + 2
    for norm in (InstanceNorm2d(8), InstanceNorm2d(8, affine=True)):
        if norm.affine:
            torch.nn.init.normal_(norm.weight)
            torch.nn.init.normal_(norm.bias)
        with torch.inference_mode():
            _close(norm(x), F.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps))


@pytest.mark.parametrize(
    "arch, config",
    [("unet_128", {"ngf": 16}), ("resnet_6blocks", {"ngf": 16}), ("stargan", {"conv_dim": 16, "repeat_num": 2}),
     ("munit", {"dim": 16, "mlp_dim": 32, "n_res": 2})],
)  # fmt: skip
def test_generators_match_with_and_without_the_fast_paths(arch, config):
    model = gantrans.build(arch, device="cpu", precision="fp32", **config)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 128, 128, generator=g)
    cond = {"stargan": torch.eye(5)[:2], "munit": torch.randn(2, 8, 1, 1, generator=g)}.get(arch)
    fast = model.run(x, cond=cond)
    assert any("_packed" in m.__dict__ for m in model.generator("a2b").modules())
    with cpuconv.plain():
        plain = model.run(x, cond=cond)
    assert cpuconv.ENABLED
    assert (fast - plain).abs().max().item() < 1e-4


def test_bf16_autocast_takes_the_fast_path_with_autocast_semantics():
    """Under CPU bf16 autocast the layers compute in bf16 (input, weight, bias cast, bf16 out) like autocast's conv."""
    torch.manual_seed(0)
    cases = [
        (Conv2d(32, 16, 3, padding=1), torch.randn(2, 32, 20, 20), lambda m, x: F.conv2d(x, m.weight, m.bias, 1, 1)),
        (ConvTranspose2d(32, 16, 4, 2, 1), torch.randn(2, 32, 10, 10), lambda m, x: F.conv_transpose2d(x, m.weight, m.bias, 2, 1)),
        (ConvTranspose2d(64, 3, 4, 2, 1), torch.randn(2, 64, 10, 10), lambda m, x: F.conv_transpose2d(x, m.weight, m.bias, 2, 1)),
    ]
    for mod, x, plain in cases:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            y, ref = mod(x), plain(mod, x)
        assert y.dtype == ref.dtype == torch.bfloat16
        exact = plain(mod, x)  # fp32
        # both bf16 results sit within bf16 rounding of the fp32 one, and of each other
        assert (y.float() - exact).abs().max() <= 0.02 * exact.abs().max()
        assert (y.float() - ref.float()).abs().max() <= 0.02 * exact.abs().max()
    if not cpuconv.bf16_native():  # oneDNN has no bf16 kernels on this CPU: PyTorch's autocast call ran, nothing packed
        assert all("_packed" not in m.__dict__ for m, _, _ in cases)
        return
    assert cases[0][0]._packed.key[1] == torch.bfloat16 and cases[1][0]._packed.key[1] == torch.bfloat16
    assert "_packed" not in cases[2][0].__dict__  # RGB layer: GEMM + fold, in bf16


def test_kept_weights_are_a_cache_not_state():
    """Copies, pickles and device/dtype moves of a used layer work and start without the opaque oneDNN weight."""
    import copy
    import io

    conv = Conv2d(8, 8, 3, padding=1)
    x = torch.randn(1, 8, 16, 16)
    with torch.inference_mode():
        y = conv(x)
    assert conv._packed.weight is not None
    twin = copy.deepcopy(conv)
    buf = io.BytesIO()
    torch.save(conv, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.inference_mode():
        assert torch.equal(twin(x), y) and torch.equal(loaded(x), y)
    conv.double()
    assert "_packed" not in conv.__dict__
    with torch.inference_mode():
        assert conv(x.double()).dtype == torch.float64  # plain path for fp64, no stale fp32 weight


def test_a_replaced_weight_is_never_served_from_the_cache():
    conv = Conv2d(8, 8, 3, padding=1, bias=False)
    x = torch.randn(1, 8, 12, 12)
    with torch.inference_mode():
        conv(x)
    conv.weight = torch.nn.Parameter(torch.randn_like(conv.weight))  # a new tensor (its version starts at 0)
    with torch.inference_mode():
        _close(conv(x), F.conv2d(x, conv.weight, None, 1, 1))


def test_a_wrong_input_gets_pytorchs_error_and_keeps_the_fast_path():
    conv = Conv2d(8, 8, 3)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="expected input"):
        conv(torch.randn(1, 4, 10, 10))
    assert cpuconv._onednn_ok
