"""The HTML report from real runs (shapes-oracle, and the same images partly blanked and scored from a
folder) through `uno-bench report`: escaping, self-containment, and rendering in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import pytest
import report_chromium as chromium
from conftest import uno_cmd
from PIL import Image

from uno_bench.report.html import JS
from uno_bench.runs.pipeline import RunOptions, run_suite

EVIL = '<script>document.title="pwned"</script><img src=x onerror="console.error(1)"> & "quoted"'
EVIL_LABEL = "<i>oracle</i>"


def _prompts_file(root: Path) -> Path:
    """The shapes suite's own prompts plus one the oracle cannot draw, whose text is hostile HTML."""
    from uno_bench.shapes.world import generate_suite

    rows = [dict(item.metadata) for item in generate_suite(8, 0)]
    rows.append({"tag": "single_object", "include": [{"class": "cross", "count": 1}], "prompt": EVIL})
    path = root / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("real")
    prompts = _prompts_file(root)
    oracle = run_suite(RunOptions(suite="shapes", model="shapes-oracle", prompts_file=prompts,
                                  run_dir=root / "oracle", show_progress=False)).run_dir
    blanked = root / "blanked-images"
    shutil.copytree(oracle / "images", blanked)
    for i, folder in enumerate(sorted(p for p in blanked.iterdir() if p.is_dir())):
        for png in sorted((folder / "samples").glob("*.png"))[: 2 if i % 3 == 0 else 0]:
            Image.new("RGB", (64, 64), (153, 153, 153)).save(png)  # the background: nothing detected
    base = run_suite(RunOptions(suite="shapes", images=blanked, prompts_file=prompts, run_dir=root / "base",
                                stages=("score", "summarize"), show_progress=False)).run_dir
    return {"root": root, "oracle": oracle, "base": base, "out": root / "report"}


@pytest.fixture(scope="module")
def cli_done(real_report, tmp_path_factory):
    import os
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["COLUMNS"] = "200"
    cmd = uno_cmd("report", f"{EVIL_LABEL}={real_report['oracle']}", str(real_report["base"]),
                  "--baseline", str(real_report["base"]), "--out", str(real_report["out"]), "--bootstrap", "1000")
    assert cmd[0] == sys.executable
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script = ""
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script += data


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def test_cli_writes_every_format(cli_done, real_report):
    assert cli_done.returncode == 0, cli_done.stderr
    out = real_report["out"]
    for name in ("report.md", "report.csv", "prompt_changes.csv", "report.html", "shapes.svg"):
        assert (out / name).is_file(), name
    assert "base: overall" in cli_done.stdout and f"{EVIL_LABEL}: overall 1.000" in cli_done.stdout
    md = (out / "report.md").read_text()
    # the oracle could not draw the hostile prompt: unscored in both runs, shown in coverage, never as a failure
    assert "176/180" in md


def test_html_escapes_run_data_and_is_self_contained(cli_done, real_report):
    assert cli_done.returncode == 0, cli_done.stderr
    page = (real_report["out"] / "report.html").read_text()
    assert EVIL not in page and EVIL_LABEL not in page
    # Escaped by the template engine (markupsafe writes " as &#34;, which html.unescape reads back)
    assert str(markupsafe.escape(EVIL)) in page and str(markupsafe.escape(EVIL_LABEL)) in page
    assert html.unescape(str(markupsafe.escape(EVIL))) == EVIL
    parsed = _parse(page)
    assert [t for t, _ in parsed.tags].count("script") == 1  # ours only
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    # The CSP admits exactly our script, by hash.
    csp = next(a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and parsed.script == JS
    # Nothing is fetched: every image is a data URI that decodes.
    sources = [a["src"] for t, a in parsed.tags if t == "img"]
    thumbs = [s for s in sources if not s.startswith("data:image/svg+xml")]
    assert all(s.startswith("data:image/") for s in sources) and len(sources) - len(thumbs) == 1
    for src in thumbs:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).load()
    # 2 checkpoints x 40 prompts shown (the default cap) x 4 images, but the hostile prompt has no images
    assert len(thumbs) == 2 * (40 * 4 - 4) and page.count('<div class="missing">no image</div>') == 2 * 4
    assert len(page) < 1_500_000
    # The answer first, then the table, chart and images; the flip lists last. Without JS nothing is hidden
    # and the filter control stays hidden.
    order = [page.index(marker) for marker in ('class="verdict"', 'class="results"', 'class="chart"',
                                                'class="grid"', 'id="flips"')]
    assert order == sorted(order)
    assert not any("hidden" in a for t, a in parsed.tags if "data-category" in a)
    assert any(a.get("class") == "filter" and "hidden" in a for t, a in parsed.tags)


needs_chromium = pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)


@needs_chromium
def test_chromium_console_capture_sees_errors(tmp_path):
    """Positive control: the console check below would catch an error."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><p>x</p><script>console.error('deliberate'); undefinedFunction();</script>")
    _, console = chromium.run(chromium.file_url(page), "--dump-dom")
    assert any("deliberate" in line for line in console)
    assert any("undefinedFunction" in line for line in console)


@needs_chromium
def test_chromium_renders_the_report(cli_done, real_report, tmp_path):
    assert cli_done.returncode == 0, cli_done.stderr
    page = real_report["out"] / "report.html"
    shot = tmp_path / "shot.png"
    _, console = chromium.run(chromium.file_url(page), f"--screenshot={shot}", "--window-size=1280,1600",
                              "--hide-scrollbars")
    assert console == []  # no script errors, no CSP violations, no failed loads
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, table shading, links: not a blank page
    white = max(colors)[0] / (image.width * image.height)
    assert white < 0.97


@needs_chromium
def test_chromium_category_filter(cli_done, real_report):
    assert cli_done.returncode == 0, cli_done.stderr
    page = real_report["out"] / "report.html"
    dom, console = chromium.run(chromium.file_url(page, "category=counting"), "--dump-dom")
    assert console == []
    assert 'data-filter="ready"' in dom and "<title>Benchmark comparison, baseline: " in dom
    rows = _parse(dom).tags
    filtered = [(a["data-category"], "hidden" in a) for t, a in rows if "data-category" in a]
    assert {c for c, hidden in filtered if not hidden} == {"counting"}
    assert any(c == "counting" for c, _ in filtered) and any(hidden for _, hidden in filtered)
    assert not any(a.get("class") == "filter" and "hidden" in a for t, a in rows)  # the control is shown


def _baseline_row(shot: Path) -> tuple[int, int, int]:
    """(left, right, top) of the results table's baseline row (the only #eef4ff pixels on the page)."""
    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("RGB"))
    ys, xs = np.nonzero((pixels == (0xEE, 0xF4, 0xFF)).all(axis=-1))
    assert xs.size, "no baseline row in this screenshot"
    return int(xs.min()), int(xs.max()), int(ys.min())


@needs_chromium
def test_chromium_first_viewport_shows_the_answer_and_the_whole_table(cli_done, real_report, tmp_path):
    """A 1400 x 900 window: the verdict and the results table are on screen without scrolling, and the table
    is as wide as in a 2400 px window (it fits: not squeezed, not cut by a horizontal scroll)."""
    assert cli_done.returncode == 0, cli_done.stderr
    url = chromium.file_url(real_report["out"] / "report.html")
    extents = {}
    for width in (1400, 2400):
        shot = tmp_path / f"first-{width}.png"
        _, console = chromium.run(url, f"--screenshot={shot}", f"--window-size={width},900", "--hide-scrollbars")
        assert console == []
        extents[width] = _baseline_row(shot)
        if width == 1400:
            import numpy as np

            pixels = np.asarray(Image.open(shot).convert("RGB"))
            verdict_rows = np.nonzero((pixels == (0xF6, 0xF8, 0xFA)).all(axis=-1))[0]
            assert verdict_rows.size and verdict_rows.max() < extents[width][2]  # the verdict sits above the table
    left, right, top = extents[1400]
    assert top < 900 - 60 and right < 1400  # the baseline row and the run below it are in the first viewport
    assert right - left == extents[2400][1] - extents[2400][0]
