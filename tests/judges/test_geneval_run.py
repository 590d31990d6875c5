"""`uno-bench run geneval --ckpt <tiny BAGEL> --limit N` end to end with the official judge
architectures (Mask2Former + CLIP), tiny and random: official layout, records, summary, manifest."""
# ruff: noqa: F811 - the fixtures imported from tiny_judges are used as test arguments

from __future__ import annotations

import json

import torch
from tiny_judges import TINY_ARCH, randomize, tiny_clip_name, tiny_clip_weights  # noqa: F401 (fixtures)

from uno_bench.judges import mmdet_convert
from uno_bench.runs.pipeline import RunOptions, run_suite


def test_run_geneval_with_tiny_bagel_and_tiny_official_judges(tiny_ckpt, shared_suites, tmp_path, tiny_clip_name,
                                                              tiny_clip_weights):
    from transformers import Mask2FormerForUniversalSegmentation

    from uno_bench.suites.geneval_rules import read_class_names

    coco = read_class_names(shared_suites / "geneval" / "prompts" / "object_names.txt")
    torch.manual_seed(0)
    m2f = randomize(Mask2FormerForUniversalSegmentation(mmdet_convert.hub_config(
        mmdet_convert.Mask2FormerArch(**{**TINY_ARCH.__dict__, "num_classes": len(coco)}), coco)), seed=3).eval()
    m2f.save_pretrained(tmp_path / "m2f")
    run_dir = tmp_path / "run"
    result = run_suite(RunOptions(
        suite="geneval", ckpt=str(tiny_ckpt), data_dir=shared_suites, run_dir=run_dir, limit=3,
        images_per_prompt=2, batch_size=2, sampler={"num_timesteps": 3, "width": 32, "height": 32},
        judge="mask2former+clip", device="cpu", show_progress=False,
        judge_options={"mask2former.weights": str(tmp_path / "m2f"), "clip.model": tiny_clip_name,
                       "clip.weights": str(tiny_clip_weights), "device": "cpu"},
    ))
    # the official GenEval layout
    for i in range(3):
        folder = run_dir / "images" / f"{i:05d}"
        assert json.loads((folder / "metadata.jsonl").read_text())["prompt"]
        assert sorted(p.name for p in (folder / "samples").iterdir()) == ["0000.png", "0001.png"]
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["scored"] for r in records)
    assert {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"} <= set(records[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["results"]["scored"] == 6 and summary["results"]["coverage"] == 1.0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    text = json.dumps(manifest)
    for needle in ("weights_sha256", "mask2former", "num_timesteps", "sha256"):
        assert needle in text
    assert result.summary is not None
