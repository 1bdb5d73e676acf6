"""The bundled latent models work with no download and do what their cards say: glyphs_infogan's codes are read
back by its Q head and its first continuous code slants the glyphs; person_emoji_vaegan reconstructs held-out
emoji better than an untrained model and its tone vectors move the StarGAN judge towards the requested tone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

import gantrans
from gantrans.cli.main import app
from gantrans.engine.edit import Editor
from gantrans.engine.latent import load_latent

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _slant(img: np.ndarray) -> float:
    ys, xs = np.nonzero(img.astype(np.float64).mean(-1) < 128)
    return -float(np.polyfit(ys, xs, 1)[0])


def test_glyphs_infogan_walks_and_reads_back_its_codes(tmp_path):
    r = runner.invoke(app, ["sample", "-m", "glyphs_infogan", "-o", str(tmp_path), "--vary", "c1", "--grid", "-n", "1", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"seed0_c1_{k:02d}.png" for k in range(10)] + ["seed0_c1_grid.png"]
    m = load_latent("glyphs_infogan", device="cpu")
    c1, c2 = m.code("c1"), m.code("c2")
    z = torch.cat([m.vary(m.draw(s), c1, list(range(10))) for s in range(16)])
    x = torch.from_numpy(m.decode(z)).permute(0, 3, 1, 2).float() / 127.5 - 1
    D = m.checkpoint.networks["D"]
    with torch.no_grad():
        acc = float((D.q(D.body(x))[:, :10].argmax(1) == torch.arange(10).repeat(16)).float().mean())
    assert acc > 0.8, acc  # chance is 0.1
    values = [-2.0, -1.0, 0.0, 1.0, 2.0]
    slants = np.array([[_slant(img) for img in m.decode(m.vary(m.draw(s), c2, values))] for s in range(16)])
    r_slant = np.corrcoef(np.tile(values, 16), slants.ravel())[0, 1]
    assert r_slant > 0.4, r_slant  # the card: c2 is slant


def test_person_emoji_vaegan_edits_held_out_emoji(tmp_path):
    r = runner.invoke(app, ["edit", str(ROOT / "examples" / "person_emoji"), "-m", "person_emoji_vaegan", "-o", str(tmp_path), "--set", "tone=tone_5",
                            "--device", "cpu", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    outs = [json.loads(line)["output"] for line in r.stdout.splitlines()]
    assert len(outs) == 5
    judge = Editor(gantrans.load("person_emoji_stargan", device="cpu"))
    tone5 = judge.schema.attrs["tone_5"].index

    def tone5_rate(paths: list[str]) -> float:
        x = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB").resize((64, 64))) for p in paths])).permute(0, 3, 1, 2)
        return float(judge.predict(x)[:, tone5].mean())

    ins = sorted(str(p) for p in (ROOT / "examples" / "person_emoji").glob("*.png"))
    assert tone5_rate(outs) > tone5_rate(ins)
    for o, i in zip(sorted(outs), ins):
        assert Image.open(o).size == Image.open(i).size
