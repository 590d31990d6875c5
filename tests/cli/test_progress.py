"""One-shot commands show progress while they sample (a bar advanced per denoising step)."""

from __future__ import annotations

import subprocess

from conftest import uno_cmd


def test_generate_and_edit_show_a_bar_per_denoising_step(tmp_path, uno_env, tiny_ckpt):
    out = tmp_path / "a.png"
    done = subprocess.run(uno_cmd("generate", "--ckpt", str(tiny_ckpt), "--prompt", "a", "--prompt", "b",
                                  "--batch-size", "1", "--num-timesteps", "4", "--width", "32", "--height", "32",
                                  "--out", str(tmp_path / "many")), env=uno_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # Off a terminal rich prints the finished bar once: 2 batches x 3 steps (4 schedule points).
    assert "generate 2 image(s)" in done.stderr and "6/6" in done.stderr
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(out)
    done = subprocess.run(uno_cmd("edit", "--ckpt", str(tiny_ckpt), "--image", str(out), "--instruction", "blue",
                                  "--num-timesteps", "3", "--out", str(tmp_path / "e.png")),
                          env=uno_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "edit" in done.stderr and "2/2" in done.stderr
