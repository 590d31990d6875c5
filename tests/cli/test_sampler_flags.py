"""One sampler vocabulary on generate / edit / run: the SamplerSettings names, the old short spellings as
hidden aliases that give the same settings, and --help stating the defaults that apply."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import uno_cmd


def _uno(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(uno_cmd(*args), env={**env, "COLUMNS": "300"}, capture_output=True, text=True)


def _help(env, command: str) -> str:
    """The help text with all whitespace removed, so line wrapping (at spaces or hyphens) cannot matter."""
    done = _uno(env, command, "--help")
    assert done.returncode == 0, done.stderr
    return re.sub(r"\s+", "", done.stdout)


def _has(text: str, *phrases: str) -> bool:
    return all(re.sub(r"\s+", "", p) in text for p in phrases)


def test_old_spellings_are_hidden_aliases_with_the_same_effect(tmp_path, uno_env):
    common = ("run", "shapes", "--model", "shapes-oracle", "--limit", "1", "--stage", "generate")
    old = _uno(uno_env, *common, "--run-dir", str(tmp_path / "old"), "--steps", "7", "--shift", "2",
               "--cfg-text", "5", "--cfg-img", "1.5", "--renorm", "channel", "--renorm-min", "0.1", "--size", "32x48")
    new = _uno(uno_env, *common, "--run-dir", str(tmp_path / "new"), "--num-timesteps", "7", "--timestep-shift", "2",
               "--cfg-text-scale", "5", "--cfg-img-scale", "1.5", "--cfg-renorm-type", "channel",
               "--cfg-renorm-min", "0.1", "--width", "32", "--height", "48")
    assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
    samplers = [json.loads((tmp_path / d / "manifest.json").read_text())["generation"]["sampler"]
                for d in ("old", "new")]
    assert samplers[0] == samplers[1]
    assert (samplers[0]["num_timesteps"], samplers[0]["timestep_shift"], samplers[0]["cfg_text_scale"],
            samplers[0]["cfg_img_scale"], samplers[0]["cfg_renorm_type"], samplers[0]["cfg_renorm_min"],
            samplers[0]["width"], samplers[0]["height"]) == (7, 2.0, 5.0, 1.5, "channel", 0.1, 32, 48)
    both = _uno(uno_env, *common, "--run-dir", str(tmp_path / "both"), "--size", "32x32", "--width", "32")
    assert both.returncode == 2 and "not both" in both.stderr


def test_help_shows_one_vocabulary_and_the_defaults(uno_env):
    canonical = ("--num-timesteps", "--timestep-shift", "--cfg-text-scale", "--cfg-img-scale", "--cfg-interval",
                 "--cfg-renorm-type", "--cfg-renorm-min")
    hidden = ("--steps", "--shift", "--cfg-text", "--cfg-img", "--renorm", "--renorm-min", "--size")
    run, generate, edit = (_help(uno_env, c) for c in ("run", "generate", "edit"))
    for text in (run, generate, edit):
        assert _has(text, *canonical)
        # No option is spelled the old way: every "--cfg-text" is the start of "--cfg-text-scale", and so on.
        for flag in hidden:
            assert text.count(flag) == sum(text.count(c) for c in canonical + ("--width",) if c.startswith(flag))
    assert _has(run, "--width", "--height") and _has(generate, "--width", "--height")
    # run: the suite's defaults, read from the specs; generate / edit: BAGEL's published T2I / edit settings.
    assert _has(run, "(suite default: 50 in every suite)",
                "suite default: text_channel for gedit, gedit_cn, imgedit, kris, shapes-edit; global for the rest")
    assert _has(generate, "(default 4.0, BAGEL's T2I setting)", "(default global, BAGEL's T2I setting)")
    assert _has(edit, "(default 2.0, BAGEL's edit setting)", "(default text_channel, BAGEL's edit setting)")
    assert "<bool>" not in run + generate + edit  # flags are not labelled as if they took a value


def test_generate_gives_the_same_image_under_either_spelling(tmp_path, uno_env, tiny_ckpt):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    new = _uno(uno_env, "generate", "--ckpt", str(tiny_ckpt), "--prompt", "a red circle", "--num-timesteps", "3",
               "--cfg-text-scale", "2", "--width", "32", "--height", "48", "--out", str(a))
    old = _uno(uno_env, "generate", "--ckpt", str(tiny_ckpt), "--prompt", "a red circle", "--steps=3",
               "--cfg-text", "2", "--size", "32x48", "--out", str(b))
    assert new.returncode == 0 and old.returncode == 0, new.stderr + old.stderr
    assert a.read_bytes() == b.read_bytes()
