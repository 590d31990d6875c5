"""The three run stages on a real (toy) suite and model: layout, resume, refusal, failure records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_suite import SPEC, ToyModel, ToySuite

from uno_bench.errors import UnoError
from uno_bench.runs.generate import generate_images
from uno_bench.runs.plan import make_plan
from uno_bench.runs.records import read_lines, read_view
from uno_bench.runs.score import score_images
from uno_bench.runs.summarize import summarize_run


def _run(run_dir: Path, suite=None, model=None, settings=None, batch_size=1, **plan_kw):
    suite = suite or ToySuite()
    plan = make_plan(suite, **plan_kw)
    gen = generate_images(plan, model or ToyModel(), settings or SPEC.generation, run_dir, batch_size=batch_size,
                          show_progress=False)
    score = score_images(plan, run_dir, show_progress=False)
    return gen, score, summarize_run(run_dir, suite)


def _records(run_dir: Path) -> list[dict]:
    return read_lines(run_dir / "records.jsonl")


def test_full_run_layout_records_and_summary(tmp_path):
    gen, score, summary = _run(tmp_path)
    assert (gen.written, gen.skipped, score.scored) == (10, 0, 10)
    assert sorted(p.relative_to(tmp_path / "images").as_posix() for p in (tmp_path / "images").rglob("*")
                  if p.is_file()) == sorted([f"p{i}/{k:02d}.png" for i in range(5) for k in range(2)]
                                            + [f"p{i}/prompt.txt" for i in range(5)])
    assert (tmp_path / "images/p2/prompt.txt").read_text() == "blue\n"
    records = _records(tmp_path)
    assert [r["key"] for r in records] == [f"p{i}/{k}" for i in range(5) for k in range(2)]
    assert all(r["scored"] and r["correct"] for r in records)
    assert summary["results"] == {"overall": 1.0, "n": 10}
    assert summary["coverage"]["scored"] == summary["coverage"]["expected"] == 10
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["suite"]["samples"] == 5 and manifest["suite"]["images_per_prompt"] == 2
    assert manifest["generation"]["sampler"]["width"] == 16
    assert manifest["scoring"]["identity"] == {"name": "centre-pixel", "version": 1}
    assert manifest["environment"]["packages"]["pillow"]


def test_rerun_resumes_without_redoing_anything(tmp_path):
    _run(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "images").rglob("*.png")}
    records = (tmp_path / "records.jsonl").read_bytes()
    gen, score, _ = _run(tmp_path)
    assert (gen.written, gen.skipped, score.scored, score.skipped) == (0, 10, 0, 10)
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "images").rglob("*.png")}
    assert (tmp_path / "records.jsonl").read_bytes() == records


def test_seeds_and_images_do_not_depend_on_batch_size(tmp_path):
    model = ToyModel()
    _run(tmp_path / "b1", model=ToyModel(), batch_size=1)
    _run(tmp_path / "b3", model=model, batch_size=3)
    assert model.calls == [3, 3, 3, 1]
    for png in (tmp_path / "b1/images").rglob("*.png"):
        assert png.read_bytes() == (tmp_path / "b3/images" / png.relative_to(tmp_path / "b1/images")).read_bytes()
    assert _records(tmp_path / "b1") == _records(tmp_path / "b3")


def test_any_different_setting_is_refused_with_the_differences(tmp_path):
    _run(tmp_path, limit=3)
    with pytest.raises(UnoError) as err:
        _run(tmp_path, limit=4)
    assert "suite.limit: 3 -> 4" in str(err.value) and "another --run-dir" in str(err.value)
    with pytest.raises(UnoError, match=r"generation.sampler.cfg_text_scale: 4.0 -> 5.0"):
        _run(tmp_path, limit=3, settings=SPEC.generation.with_overrides(cfg_text_scale=5.0))
    with pytest.raises(UnoError, match=r"suite.base_seed: 0 -> 7"):
        _run(tmp_path, limit=3, base_seed=7)
    assert len(_records(tmp_path)) == 6  # nothing was mixed in


def test_corrupt_and_missing_images_are_unscored_then_recovered(tmp_path):
    _run(tmp_path)
    png = tmp_path / "images/p1/00.png"
    png.write_bytes(png.read_bytes()[:40])  # truncated, as by a crashed copy
    (tmp_path / "images/p3/01.png").unlink()
    # Forget their records so the next pass judges them again (as a fresh score pass would).
    kept = [r for r in _records(tmp_path) if r["key"] not in ("p1/0", "p3/1")]
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))

    plan = make_plan(ToySuite())
    score_images(plan, tmp_path, show_progress=False)
    summary = summarize_run(tmp_path, ToySuite())
    view = read_view(tmp_path)
    assert view["p1/0"]["scored"] is False and view["p1/0"]["unscored_reason"].startswith("unreadable image")
    assert view["p3/1"]["unscored_reason"] == "image missing"
    assert summary["coverage"]["scored"] == 8 and summary["coverage"]["unscored"] == 2
    assert summary["results"] == {"overall": 1.0, "n": 8}  # unscored never count as wrong

    gen, score, summary = _run(tmp_path)  # regenerates the two, re-judges only them
    assert (gen.written, score.scored, score.skipped) == (2, 2, 8)
    assert summary["coverage"]["scored"] == 10 and summary["coverage"]["unscored_reasons"] == {}


def test_wrong_size_is_logged_not_saved_and_the_run_goes_on(tmp_path):
    gen, score, summary = _run(tmp_path, model=ToyModel(wrong_size=("green",)))
    assert [f["key"] for f in gen.failed] == ["p1/0", "p1/1"]
    assert not (tmp_path / "images/p1/00.png").exists()
    reason = read_view(tmp_path)["p1/0"]["unscored_reason"]
    assert reason == "image missing (model returned 8x8, expected 16x16)"
    assert summary["coverage"]["scored"] == 8


def test_unsafe_ids_and_judge_failures_are_unscored_and_touch_no_file(tmp_path):
    rows = [{"id": "ok", "prompt": "red"}, {"id": "../escape", "prompt": "red"}, {"id": "odd", "prompt": "mauve"}]
    run_dir = tmp_path / "run"
    gen, score, summary = _run(run_dir, suite=ToySuite(rows))
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("*.png"))
    view = read_view(run_dir)
    assert "contains a path separator or '..'" in view["../escape/0"]["unscored_reason"]
    assert view["odd/0"]["unscored_reason"] == "judge failed: unknown colour 'mauve'"
    assert summary["coverage"] == {
        "expected": 6, "scored": 2, "unscored": 4, "not_judged": 0, "fraction": 2 / 6,
        "unscored_reasons": {
            "invalid sample: id '../escape' contains a path separator or '..'": 2,
            "judge failed: unknown colour 'mauve'": 2,
        },
    }
    assert json.loads((run_dir / "manifest.json").read_text())["suite"]["invalid_samples"] == {
        "../escape": "id '../escape' contains a path separator or '..'"
    }


def test_stale_temp_files_are_swept(tmp_path):
    stale = tmp_path / "images/p0/.00.png.999.uno-tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\x89PNG half")
    _run(tmp_path)
    assert not stale.exists()
    assert not list(tmp_path.rglob("*.uno-tmp"))
