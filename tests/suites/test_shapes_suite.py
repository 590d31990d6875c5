"""The shapes suite end to end through the library: the oracle scores 1.0 with the analytic judges."""

from __future__ import annotations

import json

from uno_bench.models.registry import load_model
from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.suites.registry import load_suite


def test_samples_come_from_the_world_generator_in_geneval_format():
    suite = load_suite("synthetic")
    samples = suite.load_samples()
    counts = {tag: sum(s.category == tag for s in samples) for tag in {s.category for s in samples}}
    assert len(samples) == 900 and set(counts.values()) == {150}  # every task equally weighted (fill)
    assert len(load_suite("shapes-mini").load_samples()) == 44
    assert [s.id for s in samples] == [f"{i:05d}" for i in range(len(samples))]
    assert {s.category for s in samples} == {"single_object", "two_object", "counting", "colors", "position",
                                            "color_attr"}
    assert all(s.metadata["prompt"] == s.prompt for s in samples)
    assert suite.classes == ["circle", "square", "triangle", "cross"]
    assert suite.image_relpath(samples[3], 2) == "00003/samples/0002.png"
    assert json.loads(suite.layout_files(samples[3])["00003/metadata.jsonl"]) == samples[3].metadata


def test_oracle_is_perfect_and_every_task_is_covered(tmp_path):
    result = run_suite(RunOptions(suite="shapes-mini", model="shapes-oracle", out=tmp_path, images_per_prompt=2,
                                  show_progress=False))
    summary = result.summary
    assert result.run_dir.parent == tmp_path / "shapes-mini" and result.run_dir.name.startswith("shapes-oracle-")
    assert summary["coverage"]["scored"] == summary["coverage"]["expected"] == 88
    assert summary["results"]["overall"] == 1.0
    assert set(summary["results"]["tasks"]) == {"single_object", "two_object", "counting", "colors", "position",
                                                "color_attr"}
    assert load_model("shapes-oracle", None, load_suite("shapes-mini").spec.generation).identity() == json.loads(
        (result.run_dir / "manifest.json").read_text())["generation"]["identity"]
