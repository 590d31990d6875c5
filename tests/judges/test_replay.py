"""Recording a real judge and replaying it: identical answers, and a clear miss for unseen queries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.base import Detection, UnscorableError, image_sha256
from uno_bench.judges.replay import Recorder, ReplayJudge, ReplayMissError, rle_decode, rle_encode
from uno_bench.shapes import world
from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector
from uno_bench.shapes.render import render
from uno_bench.suites.geneval_rules import judge_image


@pytest.mark.parametrize("seed", range(4))
def test_rle_round_trip(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((7, 11)) < [0.0, 0.3, 0.9, 1.0][seed]
    rle = rle_encode(mask)
    assert rle["size"] == [7, 11] and sum(rle["counts"]) == 77
    assert np.array_equal(rle_decode(json.loads(json.dumps(rle))), mask)


def test_rle_starts_with_a_false_run():
    assert rle_encode(np.array([[True, True, False]]))["counts"] == [0, 2, 1]
    assert rle_encode(np.array([[False, True, True]]))["counts"] == [1, 2]


def items_and_images(n: int = 12):
    suite = world.generate_suite(3, seed=1)
    rng = np.random.default_rng(0)
    out = []
    for item in suite[:n]:
        out.append((item, render(world.scene_for_metadata(item.metadata, rng), 64)))
    return out


def judge_all(pairs, detector, colors):
    return [
        judge_image(item.metadata, image, detector, colors, classes=world.SHAPES) for item, image in pairs
    ]


def test_replay_gives_the_recorded_judges_verdicts(tmp_path):
    pairs = items_and_images()
    with (
        Recorder(ShapesDetector(), tmp_path / "det.jsonl") as det,
        Recorder(ShapesColorClassifier(), tmp_path / "col.jsonl") as col,
    ):
        live = judge_all(pairs, det, col)
    assert any(v.correct for v in live)
    assert any(
        "color" in r for item, _ in pairs for r in item.metadata["include"]
    )  # colour answers replayed too

    replay_det, replay_col = ReplayJudge(tmp_path / "det.jsonl"), ReplayJudge(tmp_path / "col.jsonl")
    assert judge_all(pairs, replay_det, replay_col) == live
    assert replay_det.identity() == {"name": "replay", "recorded": ShapesDetector().identity()}

    # raw detections come back bit-identical, masks included
    _, image = pairs[0]
    real = ShapesDetector().detect(image, world.SHAPES)
    replayed = replay_det.detect(image, world.SHAPES)
    assert replayed == real  # label, score, box
    for a, b in zip(real, replayed, strict=True):
        assert np.array_equal(a.mask, b.mask)


def test_a_png_round_trip_keys_the_same(tmp_path):
    pairs = items_and_images(1)
    item, image = pairs[0]
    with Recorder(ShapesDetector(), tmp_path / "det.jsonl") as det:
        det.detect(image, world.SHAPES)
    image.save(tmp_path / "x.png", compress_level=9)
    with Image.open(tmp_path / "x.png") as reloaded:
        assert image_sha256(reloaded) == image_sha256(image)
        assert ReplayJudge(tmp_path / "det.jsonl").detect(reloaded, world.SHAPES)


def test_missing_recordings_raise_a_specific_unscorable_error(tmp_path):
    (item, image), (_, other) = items_and_images(2)
    with (
        Recorder(ShapesDetector(), tmp_path / "det.jsonl") as det,
        Recorder(ShapesColorClassifier(), tmp_path / "col.jsonl") as col,
    ):
        found = det.detect(image, world.SHAPES)
        col.classify(image, found, found[0].label, ["red", "blue"])
    replay_det, replay_col = ReplayJudge(tmp_path / "det.jsonl"), ReplayJudge(tmp_path / "col.jsonl")
    with pytest.raises(ReplayMissError, match="no recorded detections"):
        replay_det.detect(other, world.SHAPES)
    with pytest.raises(ReplayMissError):
        replay_det.detect(image, world.SHAPES[:2])  # the class list is part of the query
    assert replay_col.classify(image, found, found[0].label, ["red", "blue"])
    moved = [Detection(d.label, d.score, (d.box[0] + 1, *d.box[1:]), d.mask) for d in found]
    with pytest.raises(ReplayMissError, match="no recorded colours"):
        replay_col.classify(image, moved, found[0].label, ["red", "blue"])
    no_masks = [Detection(d.label, d.score, d.box) for d in found]
    with pytest.raises(ReplayMissError):
        replay_col.classify(image, no_masks, found[0].label, ["red", "blue"])
    assert issubclass(ReplayMissError, UnscorableError)


def test_partial_last_line_is_ignored_then_truncated(tmp_path):
    path = tmp_path / "det.jsonl"
    (_, first), (_, second) = items_and_images(2)
    with Recorder(ShapesDetector(), path) as det:
        det.detect(first, world.SHAPES)
    with open(path, "ab") as fh:
        fh.write(b'{"op": "detect", "image": "abc", "clas')  # a crash in the middle of a write
    assert len(ReplayJudge(path)) == 1
    with Recorder(ShapesDetector(), path) as det:
        det.detect(second, world.SHAPES)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])
    assert len(lines) - 1 == 3  # header + two records
    replay = ReplayJudge(path)
    assert replay.detect(first, world.SHAPES) and replay.detect(second, world.SHAPES)


def test_recording_belongs_to_one_judge(tmp_path):
    path = tmp_path / "det.jsonl"
    Recorder(ShapesDetector(), path).close()
    with pytest.raises(UnoError, match="records judge"):
        Recorder(ShapesDetector(min_threshold=20.0), path)


def test_corrupt_or_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(UnoError, match="no judge recording"):
        ReplayJudge(tmp_path / "absent.jsonl")
    path = tmp_path / "bad.jsonl"
    Recorder(ShapesDetector(), path).close()
    with open(path, "a") as fh:
        fh.write("not json\n")
    with pytest.raises(UnoError, match=r"bad.jsonl:2: corrupt"):
        ReplayJudge(path)
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(UnoError, match="not a judge recording"):
        ReplayJudge(other)
