"""Take the trial-page screenshot of docs/evalapp.md (docs/img/mushra-trial.png).

Builds a small set with the default conditions (recording, both anchors, WORLD and Griffin-Lim copy
synthesis), serves it with `evalapp serve`, walks a Chromium listener to the first trial, plays a
few stimuli, moves the sliders and saves a screenshot.

    python -m benchmarks.evalapp_screenshot [--out docs/img/mushra-trial.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/img/mushra-trial.png")
    parser.add_argument("--workdir", default="/tmp/evalapp-screenshot")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from synthesis.listening_set.builder import build_set
    from synthesis.listening_set.config import DEFAULT_CONFIG, parse_set_config

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    set_dir = work / "set"
    if not (set_dir / "manifest.json").is_file():
        data = tomllib.loads(DEFAULT_CONFIG.read_text())
        data.update(n_items=2, name="demo")
        build_set(parse_set_config(data, str(DEFAULT_CONFIG)), set_dir, progress=False)
    port = 8599
    server = subprocess.Popen([sys.executable, "-m", "evalapp", "serve", "--set", str(set_dir), "--db",
                               f"sqlite:///{work / f'shot-{int(time.time())}.db'}", "--port", str(port),
                               "--address", "127.0.0.1"],
                              env=dict(os.environ, EVALAPP_ADMIN_TOKEN="screenshot-admin-token"))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("I have read the above and agree").click()
            page.get_by_role("button", name="Start").click()
            page.get_by_role("button", name="Continue").click()
            page.get_by_text("My headphones are on").click()
            page.get_by_role("button", name="Start the test").click()
            page.wait_for_selector(".mushra[data-loaded=true]", timeout=30_000)
            box = page.locator(".mushra-wave").bounding_box()
            page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 30)
            page.mouse.down()
            page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 30, steps=5)
            page.mouse.up()
            for key in ("r", "1", "2", "3"):
                page.keyboard.press(key)
                page.wait_for_timeout(1100)
            for i, value in enumerate((100, 35, 72)):
                page.locator(".mushra-slider").nth(i).focus()
                page.keyboard.press("Home")
                for _ in range(value // 10):
                    page.keyboard.press("PageUp")
                for _ in range(value % 10):
                    page.keyboard.press("ArrowUp")
            page.keyboard.press("4")
            page.wait_for_timeout(700)
            page.mouse.move(0, 0)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(f"wrote {args.out}")
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
