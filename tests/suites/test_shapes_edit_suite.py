"""shapes-edit end to end: `uno-bench run shapes-edit --ckpt <tiny>` through the edit path of the harness
(sources in, adapter.edit, resume), and exact scores of ground-truth folders (perfect edits 1.0, untouched
sources 0.0) with the report re-aggregating the official numbers."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import uno_cmd

from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.records import read_lines
from uno_bench.shapes.edits import SceneEdit
from uno_bench.shapes.render import render
from uno_bench.suites.registry import load_suite


def test_samples_sources_and_layout():
    suite = load_suite("shapes_edit")
    assert suite.spec.task == "edit" and suite.name == "shapes-edit"
    samples = suite.load_samples()
    assert len(samples) == 1000 and [s.category for s in samples[:4]] == ["recolor", "add", "remove", "move"]
    edit = SceneEdit.from_dict(samples[5].metadata)
    assert samples[5].prompt == edit.instruction
    [source] = suite.source_images(samples[5])
    assert source.size == (64, 64) and source.tobytes() == render(edit.source, 64).tobytes()
    assert suite.image_relpath(samples[5], 0) == "00005.png"


def test_run_with_the_tiny_model_through_the_cli(tiny_ckpt, tmp_path, uno_env):
    uno_env = {**uno_env, "OMP_NUM_THREADS": "1"}  # 2 threads on 2 busy cores is 20x slower for a tiny model
    run_dir = tmp_path / "run"
    args = ["run", "shapes-edit", "--ckpt", str(tiny_ckpt), "--limit", "4", "--run-dir", str(run_dir),
            "--batch-size", "2", "--num-timesteps", "6"]
    done = subprocess.run(uno_cmd(*args), env=uno_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "generate: 4 written" in done.stdout and "coverage 4/4 images scored" in done.stdout
    manifest = json.loads((run_dir / "manifest.json").read_text())
    identity = manifest["generation"]["identity"]
    assert identity["edit_sampler"]["cfg_img_scale"] == 1.5 and identity["edit_sampler"]["num_timesteps"] == 6
    assert identity["edit_source_resize"]["vae"][:2] == [64, 32]  # the tiny checkpoint's own rule
    images = run_dir / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(
        [f"0000{i}.png" for i in range(4)] + [f"0000{i}_source.png" for i in range(4)])
    records = {r["key"]: r for r in read_lines(run_dir / "records.jsonl")}
    assert [records[f"0000{i}/0"]["kind"] for i in range(4)] == ["recolor", "add", "remove", "move"]
    assert all(isinstance(r["correct"], bool) and r["reason"] for r in records.values())
    summary = json.loads((run_dir / "summary.json").read_text())["results"]
    assert set(summary["categories"]) == {"recolor", "add", "remove", "move"}
    assert summary["overall"] == pytest.approx(sum(v["correct"] for v in summary["categories"].values()) / 4)
    again = subprocess.run(uno_cmd(*args), env=uno_env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "generate: 0 written, 4 already there" in again.stdout


@pytest.mark.parametrize("which", ["target", "source"])
def test_ground_truth_folders_score_exactly(tmp_path, which):
    suite = load_suite("shapes-edit")
    folder = tmp_path / which
    folder.mkdir()
    samples = suite.load_samples()[:8]
    for s in samples:
        render(getattr(SceneEdit.from_dict(s.metadata), which), 64).save(folder / f"{s.id}.png")
    result = run_suite(RunOptions(suite="shapes-edit", images=folder, limit=8, out=tmp_path / "runs",
                                  stages=("score", "summarize"), show_progress=False))
    res = result.summary["results"]
    if which == "target":  # perfect edits
        assert res["overall"] == res["instruction"] == res["preservation"] == 1.0
    else:  # nothing edited: no instruction carried out, everything preserved
        assert res["overall"] == res["instruction"] == 0.0 and res["preservation"] == 1.0
    from uno_bench.report import build_report, load_run

    report = build_report([load_run(result.run_dir, which)], baseline=which)
    assert not any("re-aggregate" in note for s in report.suites for note in s.footnotes)
    assert report.suites[0].rows[0].cells["overall"].value == res["overall"]


def test_record_then_replay_gives_the_same_scores(tmp_path):
    """`record=FILE` records the analytic judges' answers; `--judge replay` reproduces every record."""
    recording = tmp_path / "shapes_edit.jsonl"
    suite = load_suite("shapes-edit")
    folder = tmp_path / "edits"
    folder.mkdir()
    for k, s in enumerate(suite.load_samples()[:6]):  # half perfect edits, half untouched sources
        render(getattr(SceneEdit.from_dict(s.metadata), "target" if k % 2 else "source"), 64).save(
            folder / f"{s.id}.png")
    base = {"suite": "shapes-edit", "images": folder, "limit": 6, "stages": ("score", "summarize"),
            "show_progress": False}
    live = run_suite(RunOptions(**base, out=tmp_path / "a", judge_options={"record": str(recording)}))
    replayed = run_suite(RunOptions(**base, out=tmp_path / "b", judge="replay",
                                    judge_options={"recording": str(recording)}))
    assert replayed.summary["results"] == live.summary["results"]
    assert replayed.summary["coverage"]["scored"] == live.summary["coverage"]["scored"] == 6
    header = json.loads(recording.read_text().splitlines()[0])
    assert set(header["identity"]) == {"detector", "colors"}
