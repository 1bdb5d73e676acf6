"""DiffAugment: the transforms themselves (exact shifts and boxes, gradients, the saved RNG) and the
StarGAN option that applies them to everything the critic sees."""

from __future__ import annotations

import pytest
import torch
from helpers import stargan_cfg as cfg
from helpers import write_attr_dataset
from safetensors.torch import load_file

from gantrans.errors import UsageError
from gantrans.train.diffaugment import cutout, diff_augment, parse_policy, translate
from gantrans.train.trainer import train


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(C, H, W) moved down dy and right dx, 0 where nothing moved in: the reference for `translate`."""
    out = torch.zeros_like(img)
    h, w = img.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[:, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


def test_translation_is_an_exact_shift_drawn_from_the_global_cpu_generator():
    x = torch.randn(6, 3, 16, 16) + 5  # no zeros of its own
    torch.manual_seed(3)
    out = translate(x, 0.125)
    torch.manual_seed(3)
    dy, dx = torch.randint(-2, 3, (6, 1)), torch.randint(-2, 3, (6, 1))
    for i in range(6):
        assert torch.equal(out[i], shifted(x[i], int(dy[i]), int(dx[i])))
    assert any(int(dy[i]) or int(dx[i]) for i in range(6))  # something moved
    torch.manual_seed(3)
    assert torch.equal(diff_augment(x, ["translation"]), out)  # reproducible from the saved RNG


def test_cutout_zeroes_one_half_size_box_per_image():
    x = torch.randn(8, 2, 16, 16) + 5
    torch.manual_seed(1)
    out = cutout(x, 0.5)
    torch.manual_seed(1)
    cy, cx = torch.randint(0, 16, (8, 1, 1)), torch.randint(0, 16, (8, 1, 1))
    for i in range(8):
        y0, x0 = int(cy[i]) - 4, int(cx[i]) - 4
        box = torch.zeros(16, 16, dtype=torch.bool)
        box[max(y0, 0) : y0 + 8, max(x0, 0) : x0 + 8] = True
        assert torch.equal(out[i] == 0, box.expand(2, 16, 16))  # zero exactly in the (clipped) 8x8 box
        assert torch.equal(out[i][:, ~box], x[i][:, ~box])


def test_gradients_pass_through_both_policies_and_an_empty_policy_is_the_identity():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    diff_augment(x, ["translation", "cutout"]).sum().backward()
    assert x.grad is not None and 0 < int((x.grad == 1).sum()) < x.numel()  # kept pixels get gradient 1, dropped ones 0
    assert diff_augment(x, []) is x
    assert parse_policy(" translation, cutout ") == ["translation", "cutout"] and parse_policy("") == []
    with pytest.raises(ValueError, match="unknown diffaugment policy color; choose from translation, cutout"):
        parse_policy("translation,color")


@pytest.fixture(scope="module")
def attr_data(tmp_path_factory):  # type: ignore[no-untyped-def]
    return write_attr_dataset(tmp_path_factory.mktemp("attrs"))


def test_stargan_critic_sees_augmented_images_and_resume_stays_exact(attr_data, tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="unknown diffaugment policy hue"):
        cfg(attr_data, tmp_path / "bad", diffaugment="hue")
    seen: list[torch.Tensor] = []
    import gantrans.models.stargan as S

    forward = S.StarGANDiscriminator.forward

    def spy(self, x):  # type: ignore[no-untyped-def]
        seen.append(x.detach().clone())
        return forward(self, x)

    monkeypatch.setattr(S.StarGANDiscriminator, "forward", spy)
    train(cfg(attr_data, tmp_path / "plain", steps=1))
    plain = [t for t in seen if t.shape[0] == 6]
    seen.clear()
    train(cfg(attr_data, tmp_path / "aug", steps=1, diffaugment="translation,cutout"))
    aug = [t for t in seen if t.shape[0] == 6]
    monkeypatch.undo()
    # the first D call is on the real batch: same images, but shifted with grey (0) borders and boxes
    assert not (plain[0] == 0).any() and (aug[0] == 0).float().mean() > 0.1
    a = train(cfg(attr_data, tmp_path / "a", steps=4, save_every=2, diffaugment="translation,cutout"))
    train(cfg(attr_data, tmp_path / "b", steps=2, save_every=2, diffaugment="translation,cutout"))
    b = train(cfg(attr_data, tmp_path / "b", steps=4, save_every=2, diffaugment="translation,cutout"), resume=True)
    sa, sb, sp = load_file(str(a.model)), load_file(str(b.model)), load_file(str(train(cfg(attr_data, tmp_path / "p", steps=4)).model))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sp[k]) for k in sa)  # the option changes training
