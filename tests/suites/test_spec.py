"""Suite specs: every TOML parses, matches the published hashes, and is found when installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from uno_bench.errors import UnoError
from uno_bench.suites import data as suite_data
from uno_bench.suites.spec import load_specs, parse_spec, spec_files

EXPECTED = {"geneval", "geneval2", "dpg_bench", "unigenbench", "unigenbench_en_long", "unigenbench_zh",
            "unigenbench_zh_long", "gedit", "gedit_cn", "imgedit", "kris", "shapes", "shapes-mini", "shapes-edit"}


def test_every_benchmark_has_a_spec():
    specs = load_specs()
    assert set(specs) == EXPECTED
    for spec in specs.values():
        assert spec.version and spec.title and spec.metric and spec.layout
        assert spec.images_per_prompt >= 1
        assert spec.generation_source, f"{spec.name}: generation defaults need their source"
        for ref in spec.references:
            assert ref.source, f"{spec.name}: reference {ref.model} has no source"
        for df in spec.data:
            assert df.verifiable or not df.url, f"{spec.name}: downloadable {df.path} has no hash"


def test_geneval_defaults_are_bagels_eval_settings():
    spec = load_specs()["geneval"]
    g = spec.generation
    assert spec.images_per_prompt == 4
    assert (g.width, g.height) == (1024, 1024)
    assert g.cfg_text_scale == 4.0 and g.cfg_interval == (0.0, 1.0)
    assert g.timestep_shift == 3.0 and g.num_timesteps == 50
    assert g.cfg_renorm_type == "global" and g.cfg_renorm_min == 0.0
    assert {(r.model, r.value) for r in spec.references} == {("BAGEL", 0.82), ("BAGEL", 0.88)}


def test_uno_headline_numbers_are_recorded():
    specs = load_specs()
    pairs = {(name, r.model, r.value) for name, s in specs.items() for r in s.references}
    for expected in [
        ("geneval2", "BAGEL", 71.7), ("geneval2", "BAGEL+UNO", 75.1),
        ("dpg_bench", "BAGEL", 84.03), ("dpg_bench", "BAGEL+UNO", 86.12),
        ("unigenbench", "BAGEL", 61.53), ("unigenbench", "BAGEL+UNO", 65.03),
        ("gedit", "BAGEL", 6.52), ("gedit", "BAGEL+UNO", 7.17), ("gedit_cn", "BAGEL", 6.50), ("gedit_cn", "BAGEL+UNO", 7.20),
        ("imgedit", "BAGEL+UNO", 3.85), ("kris", "BAGEL+UNO", 62.57),
    ]:
        assert expected in pairs


def _source_md_hashes(shared: Path) -> dict[str, str]:
    """`| file | upstream | bytes | lines | sha256 | blob |` rows of every SOURCE.md, keyed by suite/file."""
    hashes = {}
    for source in shared.glob("*/SOURCE.md"):
        for line in source.read_text().splitlines():
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if len(cells) == 6 and re.fullmatch(r"[0-9a-f]{64}", cells[4]):
                hashes[f"{source.parent.name}/{cells[0]}"] = cells[4]
    return hashes


def test_spec_hashes_match_source_md_and_the_files(shared_suites):
    published = _source_md_hashes(shared_suites)
    for spec in load_specs().values():
        for df in spec.data:
            if df.sha256:
                assert published[df.path] == df.sha256, df.path
        for status in suite_data.check_suite(spec, shared_suites):
            if status.file.path in published:
                assert status.state == "verified", (spec.name, status)


def test_bad_specs_give_one_line_errors():
    good = load_specs()["shapes"]
    text = Path(good.source_path).read_text()
    with pytest.raises(UnoError, match="unknown key.*colour"):
        parse_spec('colour = "red"\n' + text, "x.toml")
    with pytest.raises(UnoError, match="missing required key 'version'"):
        parse_spec(re.sub(r'(?m)^version = .*$', "", text), "x.toml")
    with pytest.raises(UnoError, match=r"\[generation\]"):
        parse_spec(text.replace("num_timesteps", "steps"), "x.toml")
    with pytest.raises(UnoError, match="invalid TOML"):
        parse_spec("name = ", "x.toml")


def test_specs_come_from_the_checkout():
    files = spec_files()
    assert all(f.parent.name == "suites" and (f.parent.parent / "pyproject.toml").is_file() for f in files)


@pytest.mark.slow
def test_specs_are_found_in_an_installed_wheel(tmp_path):
    """Build the wheel, install it into a bare venv, and load the specs from outside any checkout."""
    repo = Path(__file__).resolve().parents[2]
    # A copy of only what the build reads, so the build leaves nothing in the checkout and the copy
    # stays small (the checkout's .venv alone is several GB).
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("uno_bench", "uno_train", "suites"):
        shutil.copytree(repo / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, source / name)
    wheel_dir = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir),
         str(source)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = next(wheel_dir.glob("uno-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, capture_output=True,
    )
    probe = (
        "from uno_bench.suites.spec import spec_files, load_specs; import uno_bench;"
        "print(uno_bench.__file__); print(spec_files()[0].parent); print(sorted(load_specs()))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    module, folder, names = out.stdout.splitlines()
    assert str(venv) in module
    assert folder == str((venv / "share" / "uno" / "suites").resolve())
    assert eval(names) == sorted(EXPECTED)


def _content_hash(text: str) -> str:
    return parse_spec(text, "x.toml").content_sha256


def test_the_spec_hash_covers_binding_content_only():
    """Comments, key order and documentation fields (title, aliases, notes, sources, published numbers) can be
    fixed without invalidating run dirs; every setting, data file and the version still bind."""
    text = Path(load_specs()["geneval"].source_path).read_text(encoding="utf-8")
    base = _content_hash(text)
    assert base == load_specs()["geneval"].content_sha256
    documentation = [
        text.replace("# GenEval (Ghosh", "# A reworded comment. GenEval (Ghosh"),
        text.replace('title = "GenEval"', 'title = "GenEval (renamed)"'),
        text.replace('aliases = ["gen-eval", "gen_eval"]', 'aliases = ["gen-eval"]'),
        re.sub(r'(?m)^source = ".*"$', 'source = "another citation"', text),
        text.replace('note = "the same 553 prompts', 'note = "reworded: the same 553 prompts'),
        text.replace("value = 0.82", "value = 0.83"),
        text.replace("num_timesteps = 50\ntimestep_shift = 3.0", "timestep_shift = 3.0\nnum_timesteps = 50"),
    ]
    for variant in documentation:
        assert variant != text
        assert _content_hash(variant) == base, variant[:200]
    binding = [
        text.replace('version = "1.0"', 'version = "1.1"'),
        text.replace("num_timesteps = 50", "num_timesteps = 30"),
        text.replace("images_per_prompt = 4", "images_per_prompt = 1"),
        text.replace("5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13", "0" * 64),
        text.replace('default_judge = "mask2former+clip"', 'default_judge = "other"'),
        text.replace("think = false", "think = true"),
    ]
    for variant in binding:
        assert variant != text
        assert _content_hash(variant) != base, variant[:200]


def test_legacy_file_hashes_are_the_released_spec_versions():
    """uno_bench/suites/legacy_hashes.py is what scripts/legacy_spec_hashes.py makes from git history: every
    spec version whose run dirs recorded the whole file's sha256, mapped to its content hash under today's
    rule (if that rule changes, this fails until the table is regenerated)."""
    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "scripts"))
    try:
        import legacy_spec_hashes as script
    finally:
        sys.path.remove(str(repo / "scripts"))
    from uno_bench.suites.legacy_hashes import LEGACY_FILE_HASHES

    try:
        found = script.versions([script.SWITCH])
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout with the history of suites/")
    assert found == LEGACY_FILE_HASHES
    assert {name for name, _ in found.values()} == EXPECTED
