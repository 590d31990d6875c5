"""`uno-bench generate / edit / caption` end to end on a tiny checkpoint, and their error policy."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest
from PIL import Image


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def uno_bench(capsys, monkeypatch):
    """Run the real `uno-bench` entry point in-process (its error policy included)."""
    from uno_bench.cli import main

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["uno-bench", *args])
        monkeypatch.delenv("UNO_DEBUG", raising=False)
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        except Exception:
            import traceback

            traceback.print_exc()
            code = 1
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def test_console_entry_point():
    r = subprocess.run([sys.executable, "-m", "uno_bench", "generate", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--cfg-interval" in r.stdout


def test_generate_edit_caption(uno_bench, tiny_ckpt, tmp_path):
    out = tmp_path / "cat.png"
    r = uno_bench("generate", "--ckpt", str(tiny_ckpt), "--prompt", "a red circle", "--size", "32x48",
                  "--steps", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (32, 48)
    many = tmp_path / "many"
    r = uno_bench("generate", "--ckpt", str(tiny_ckpt), "--prompt", "a", "--prompt", "b", "--size", "32x32",
                  "--steps", "3", "--out", str(many))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in many.iterdir()) == ["00000.png", "00001.png"]
    edited = tmp_path / "edited.png"
    r = uno_bench("edit", "--ckpt", str(tiny_ckpt), "--image", str(out), "--instruction", "make it blue",
                  "--steps", "3", "--out", str(edited))
    assert r.returncode == 0, r.stderr
    assert Image.open(edited).size == (32, 48)
    r = uno_bench("caption", "--ckpt", str(tiny_ckpt), "--image", str(out), "--max-new-tokens", "4")
    assert r.returncode == 0, r.stderr


def test_generate_defaults_to_the_models_largest_square(uno_bench, tiny_ckpt, tmp_path):
    from uno_bench.models.bagel.config import read_config

    config = read_config(tiny_ckpt)
    side = min(1024, config.max_latent_size * config.latent_downsample)
    out = tmp_path / "default.png"
    r = uno_bench("generate", "--ckpt", str(tiny_ckpt), "--prompt", "a red circle", "--steps", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert side < 1024 and Image.open(out).size == (side, side)


def test_bad_input_is_one_line_and_exit_2(uno_bench, tiny_ckpt, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    cases = [
        ("generate", "--ckpt", str(tmp_path / "missing"), "--prompt", "x", "--out", str(tmp_path / "x.png")),
        ("generate", "--ckpt", str(tiny_ckpt), "--prompt", "x", "--size", "30x30", "--out", str(tmp_path / "x.png")),
        ("generate", "--ckpt", str(tiny_ckpt), "--prompt", "x", "--size", "big", "--out", str(tmp_path / "x.png")),
        ("edit", "--ckpt", str(tiny_ckpt), "--image", str(corrupt), "--instruction", "x", "--out", str(tmp_path / "y.png")),
        ("caption", "--ckpt", str(tiny_ckpt), "--image", str(tmp_path / "none.png")),
    ]
    for args in cases:
        r = uno_bench(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    r = uno_bench("--debug", "caption", "--ckpt", str(tiny_ckpt), "--image", str(tmp_path / "none.png"))
    assert "Traceback" in r.stderr
