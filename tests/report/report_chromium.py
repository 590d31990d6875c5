"""Headless Chromium for rendering tests, stdlib only.

Console errors are read from Chromium's own log (`--enable-logging=stderr --v=0`), which prints every
console message and uncaught exception as an `INFO:CONSOLE` line; this needs no DevTools websocket
client. `console_lines` is checked against a page with a deliberate error (a positive control), so a
Chromium that stopped logging would fail the tests instead of passing them vacuously.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SKIP_REASON = ("headless Chromium not found (Debian: apt-get install -y chromium); the HTML report is not "
               "rendered in a browser by this run")

# Offline and quiet: without the background-networking flags Chromium tries the (closed) network.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def run(url: str, *args: str, timeout: float = 90) -> tuple[str, list[str]]:
    """Load `url` with extra args (e.g. --dump-dom, --screenshot=PATH); -> (stdout, console lines)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="uno-chromium-") as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, console_lines(done.stderr)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def file_url(path: Path, fragment: str = "") -> str:
    return path.resolve().as_uri() + (f"#{fragment}" if fragment else "")
