"""docs/serve.png: `gantrans serve` with the bundled models, one example translated, photographed by headless
Chromium (the same setup as tests/test_serve_browser.py).

    python scripts/serve_screenshot.py [docs/serve.png]
"""

from __future__ import annotations

import queue
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def main(out: str = "docs/serve.png") -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gantrans", "serve", "--port", str(port), "--device", "cpu"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []] + [lines.put("")], daemon=True).start()
    try:
        while "Running on local URL" not in (line := lines.get(timeout=180)):
            if not line:
                raise SystemExit("the server stopped")
        example = sorted((ROOT / "examples" / "emoji").glob("*.png"))[0]
        with sync_playwright() as p:
            exe = next(x for x in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if x)
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.locator("#translate-input input[type=file]").set_input_files(str(example))
            page.wait_for_selector("#translate-input img")
            page.click("#translate-run")
            page.locator("#translate-status").get_by_text("Done.").wait_for(timeout=120_000)
            page.wait_for_selector("#translate-output img")
            page.screenshot(path=out, full_page=True)
            browser.close()
        print(out)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main(*sys.argv[1:])
