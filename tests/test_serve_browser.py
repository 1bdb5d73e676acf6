"""`gantrans serve` in a real browser: headless Chromium (Debian's package) driven by Playwright against a server
this test starts on a free loopback port with tiny random models. Each tab: upload, run, and the image the page
shows equals what the Python API (gantrans.web.jobs, itself checked against the CLI) gives for the same input;
a painted mask; a corrupt upload gives a message and the server goes on.

Skips (saying why) where Chromium or Playwright is missing; `.ci/run` installs both. GANTRANS_SCREENSHOT=PATH
saves a screenshot of the translate tab (README's docs/serve.png).
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serve_models import make_images, make_models

from gantrans.web.catalog import Catalog
from gantrans.web.jobs import Jobs

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("gradio", reason="the ui extra is not installed (pip install 'gantrans[ui]')")
    root = tmp_path_factory.mktemp("browser")
    models = make_models(root / "models")
    images = make_images(root / "img")
    order = ["translate", "munit", "stargan", "latent", "stylize", "upscale", "inpaint"]
    refs = [str(models[k]) for k in order]
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(root / "hf"), "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "gantrans", "serve", *[a for r in refs for a in ("-m", r)], "--no-bundled", "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:  # the server's own "Running on" line, not a sleep
            line = lines.get(timeout=180)
            if not line:
                pytest.fail("the server stopped:\n" + "".join(log))
            if "Running on local URL" in line:
                break
        jobs = Jobs(Catalog(refs, device="cpu", bundled=False, hf_cache=False), root / "work")
        with pw.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.wait_for_selector("#translate-run")
            yield page, models, images, jobs, log
            browser.close()
        jobs.close()
    finally:
        proc.terminate()
        proc.wait(30)


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def _upload(page, elem: str, path: Path) -> None:
    page.locator(f"#{elem} input[type=file]").set_input_files(str(path))
    page.wait_for_selector(f"#{elem} img")  # the preview: the upload has reached the server


def _shown(page, elem: str, old: str | None = None) -> np.ndarray:
    """The pixels of the image the page shows in `elem` (once its source differs from `old`)."""
    img = page.locator(f"#{elem} img").first
    try:
        page.wait_for_function(
            "([sel, old]) => { const i = document.querySelector(sel); return i && i.src && i.complete && i.naturalWidth > 0 && i.src !== old; }",
            arg=[f"#{elem} img", old],
        )
    except Exception as e:  # say what the tab said instead
        status = page.locator(f"#{elem.split('-')[0]}-status").inner_text()
        raise AssertionError(f"no image in #{elem}; the tab says: {status!r}") from e
    data = page.request.get(img.get_attribute("src")).body()
    import io

    return np.asarray(Image.open(io.BytesIO(data)))


def _same(page_pixels: np.ndarray, path: Path) -> None:
    want = np.asarray(Image.open(path))
    assert page_pixels.shape == want.shape and np.array_equal(page_pixels, want)


def _choose(page, elem: str, option: str) -> None:
    """Pick `option` in the dropdown `elem` (its own list: every dropdown's options are in the page)."""
    box = page.locator(f"#{elem} input")
    box.click()
    page.locator(f"#{box.get_attribute('aria-controls')} [role=option][aria-label='{option}']").click()


def _status(page, elem: str, text: str) -> str:
    loc = page.locator(f"#{elem}")
    loc.get_by_text(text).first.wait_for()
    return loc.inner_text()


def test_translate_tab_and_a_corrupt_upload(site):
    page, models, images, jobs, _ = site
    _upload(page, "translate-input", images["photo"])
    page.click("#translate-run")
    _same(_shown(page, "translate-output"), jobs.translate(str(models["translate"]), images["photo"]).first)
    assert f"gantrans translate photo.png -m {models['translate']} -o out" in _status(page, "translate-status", "Done.")
    if os.environ.get("GANTRANS_SCREENSHOT"):
        page.screenshot(path=os.environ["GANTRANS_SCREENSHOT"], full_page=True)
    page.locator("#translate-input input[type=file]").set_input_files(str(images["bad"]))
    page.click("#translate-run")
    assert "bad.png: not a recognised image file" in _status(page, "translate-status", "Could not run")


def test_style_sample_tab(site):
    page, models, images, jobs, _ = site
    _tab(page, "style-sample")
    _upload(page, "style-input", images["photo"])
    page.click("#style-run")
    want = jobs.style_sample(str(models["munit"]), images["photo"], seeds=list(range(8)))
    _same(_shown(page, "style-output"), want.first)
    assert page.locator("#style-gallery img").count() >= 8
    assert "--seeds 0,1,2,3,4,5,6,7" in _status(page, "style-status", "Done.")


def test_edit_tab(site):
    page, models, images, jobs, _ = site
    _tab(page, "edit")
    _upload(page, "edit-input", images["photo"])
    for _ in range(3):  # the controls re-render when the upload lands: a choice made just before is redrawn away
        for name in ("x", "y"):
            _choose(page, f"edit-set-{name}", "1")
        page.click("#edit-run")
        status = page.locator("#edit-status")
        status.locator("text=/Done\\.|Could not run|Error/").first.wait_for()
        if "Done." in status.inner_text():
            break
    _same(_shown(page, "edit-output"), jobs.edit(str(models["stargan"]), images["photo"], ["x=1", "y=1"]).first)


def test_stylize_and_upscale_tabs(site):
    page, models, images, jobs, _ = site
    _tab(page, "stylize")
    _upload(page, "stylize-content", images["photo"])
    _upload(page, "stylize-style", images["style"])
    page.click("#stylize-run")
    _same(_shown(page, "stylize-output"), jobs.stylize(str(models["stylize"]), images["photo"], images["style"]).first)
    _tab(page, "upscale")
    _upload(page, "upscale-input", images["photo"])
    page.click("#upscale-run")
    _same(_shown(page, "upscale-output"), jobs.upscale(str(models["upscale"]), images["photo"]).first)


def test_inpaint_tab_with_a_painted_mask(site):
    page, models, images, jobs, _ = site
    _tab(page, "inpaint")
    _upload(page, "inpaint-input", images["scene"])
    # the painter has the image once its "Upload an image" prompt is gone (strokes drawn before would be cleared)
    page.wait_for_function("() => !document.querySelector('#inpaint-painter').innerText.includes('Upload an image')")
    canvas = page.locator("#inpaint-painter canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 20, cy)
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(cx - 20 + 5 * k, cy + 2 * k)
    page.mouse.up()
    for _ in range(3):  # on a loaded machine the stroke can reach the editor's value after a click made at once
        page.click("#inpaint-run")
        status = page.locator("#inpaint-status")
        status.locator("text=/Done\\.|Could not run|Error/").first.wait_for()
        if "Done." in status.inner_text():
            break
    out = _shown(page, "inpaint-output")
    mask = _shown(page, "inpaint-mask-used")
    assert 0.001 < (mask > 0).mean() < 0.5, (mask > 0).mean()  # a stroke, not nothing or everything
    mpath = jobs.workdir / "browser_mask.png"
    Image.fromarray(mask).save(mpath)
    want = jobs.inpaint(str(models["inpaint"]), images["scene"], mpath)
    _same(out, want.first)
    src = np.asarray(Image.open(images["scene"]))
    hole = np.asarray(Image.open(mpath).resize(src.shape[1::-1], Image.Resampling.NEAREST)) > 0
    hole = hole if hole.ndim == 2 else hole.any(-1)
    assert np.array_equal(out[~hole], src[~hole])  # known pixels untouched


def test_sample_tab(site):
    page, models, images, jobs, _ = site
    _tab(page, "sample")
    _choose(page, "sample-vary", "z0")
    page.click("#sample-run")
    want = jobs.sample(str(models["latent"]), 0, "z0", -2.0, 2.0, 9)
    first = [p for lbl, p in want.outputs if not lbl.endswith("_grid")][0]
    _same(_shown(page, "sample-output"), first)
    assert "--vary z0 --range -2:2 --steps 9 --grid" in _status(page, "sample-status", "Done.")
