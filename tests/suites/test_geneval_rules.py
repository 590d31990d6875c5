"""GenEval's rules on constructed detections, with the verdicts and messages of the official scorer."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.base import Detection, UnscorableError
from uno_bench.suites.geneval_rules import (
    TAGS,
    GenEvalMetadataError,
    GenEvalOptions,
    GenEvalVerdict,
    judge_image,
    read_class_names,
    relative_position,
    result_record,
    summarize,
    unscored_record,
    validate_metadata,
)

PROMPTS = Path("/work/shared/suites/geneval/prompts")
CLASSES = ("dog", "cat", "clock", "cup")
IMAGE = Image.new("RGB", (100, 100), "gray")


class FixedDetector:
    """Answers with the detections it was given: the input under which the rules are tested."""

    def __init__(self, detections: Sequence[Detection]):
        self.detections = list(detections)
        self.calls: list[list[str]] = []

    def identity(self) -> dict:
        return {"name": "fixed"}

    def detect(self, image, classes):
        self.calls.append(list(classes))
        return list(self.detections)


class ColorByBox:
    """Names the colour stored for each box; records which instances it was asked about."""

    def __init__(self, colors: dict[tuple, str] | None = None):
        self.colors = colors or {}
        self.asked: list[list[tuple]] = []

    def identity(self) -> dict:
        return {"name": "color-by-box"}

    def classify(self, image, detections, class_name, colors):
        self.asked.append([d.box for d in detections])
        return [self.colors[d.box] for d in detections]


def det(label: str, score: float, box=(0.0, 0.0, 10.0, 10.0)) -> Detection:
    return Detection(label, score, tuple(float(v) for v in box))


def judge(metadata: dict, detections: Sequence[Detection], colors: ColorByBox | None = None, **options):
    return judge_image(
        {"prompt": "p", **metadata},
        IMAGE,
        FixedDetector(detections),
        colors or ColorByBox(),
        GenEvalOptions(**options),
        classes=CLASSES,
    )


def one(cls: str, count: int = 1, **extra) -> dict:
    return {"class": cls, "count": count, **extra}


# ---------------------------------------------------------------------------------- thresholds


def test_threshold_is_strictly_above_0_3():
    meta = {"tag": "single_object", "include": [one("dog")]}
    assert not judge(meta, [det("dog", 0.3)]).correct
    assert judge(meta, [det("dog", 0.3001)]).correct
    verdict = judge(meta, [det("dog", 0.2)])
    assert verdict.reason == "expected dog>=1, found 0"
    assert verdict.details == {}


F32_03, F32_09 = np.float32(0.3), np.float32(0.9)


def _above(value: np.float32) -> float:
    return float(np.nextafter(value, np.float32(1)))


def test_thresholds_compare_float32_scores_with_float32_constants():
    """Official: `bbox[:, 4] > 0.3` on mmdet's float32 array, so the constant is float32(0.3) too."""
    single = {"tag": "single_object", "include": [one("dog")]}
    # float32(0.3) = 0.30000001192...: above the double 0.3, yet dropped (equal in float32)
    assert float(F32_03) > 0.3
    assert not judge(single, [det("dog", float(F32_03))]).correct
    assert judge(single, [det("dog", _above(F32_03))]).correct
    # a double between 0.3 and float32(0.3) rounds to float32(0.3): dropped as well
    assert not judge(single, [det("dog", 0.3000000001)]).correct
    counting = {"tag": "counting", "include": [one("clock")]}
    assert float(F32_09) < 0.9  # float32(0.9) = 0.89999997...: below the double 0.9, and dropped
    assert not judge(counting, [det("clock", float(F32_09))]).correct
    assert not judge(counting, [det("clock", 0.9)]).correct
    assert judge(counting, [det("clock", _above(F32_09))]).correct
    # the exclude clause of a counting prompt uses the same float32 threshold
    exact = {"tag": "counting", "include": [one("clock")], "exclude": [one("clock", 2)]}
    assert judge(exact, [det("clock", 0.95), det("clock", float(F32_09))]).correct
    assert not judge(exact, [det("clock", 0.95), det("clock", _above(F32_09))]).correct


@pytest.mark.parametrize("order", ["red first", "blue first"])
def test_tied_scores_put_the_later_listed_detection_first(order):
    """Official: `np.argsort(scores)[::-1]`: a stable ascending sort reversed, so of two equal
    scores the one listed later ranks first and is the one the colour clause classifies."""
    red = det("cup", 0.8, (0, 0, 10, 10))
    blue = det("cup", 0.8, (20, 0, 30, 10))
    listed = [red, blue] if order == "red first" else [blue, red]
    colors = ColorByBox({red.box: "red", blue.box: "blue"})
    verdict = judge({"tag": "colors", "include": [one("cup", color="red")]}, listed, colors)
    later = listed[-1]
    assert colors.asked == [[later.box]]
    assert verdict.correct == (later is red)
    assert [b[:4] for b in verdict.details["cup"]] == [list(later.box), list(listed[0].box)]


def test_tie_order_is_numpys_classic_quicksort_for_long_lists():
    """Past 16 detections numpy's introsort partitions, and ties are no longer simply reversed; the
    rules follow GenEval's numpy (checked against numpy's classic path, which long doubles still take)."""
    from uno_bench.suites.legacy_argsort import legacy_argsort

    rng = np.random.default_rng(0)
    for n in (*range(1, 40), 64, 100, 300):
        for _ in range(20):
            scores = rng.choice(rng.random(int(rng.integers(1, 5))), n).astype(np.float32)
            assert legacy_argsort(list(scores)) == np.argsort(scores.astype(np.longdouble), kind="quicksort").tolist()
    # 17 equal scores: no longer the plain reversal, and the rules keep that order
    many = [det("cup", 0.5, (i, 0, i + 5, 5)) for i in range(17)]
    kept = judge({"tag": "two_object", "include": [one("cup")]}, many).details["cup"]
    expected = legacy_argsort([np.float32(0.5)] * 17)[::-1]
    assert [b[0] for b in kept] == [float(i) for i in expected[:16]]
    assert expected != list(range(16, -1, -1))


def test_position_runs_in_float32_where_dx_is_exactly_one_half():
    """dx = 0.5 exactly in float32 (not "right of": the test is dx > 0.5) but 0.5000000x in float64."""
    a = (11.0, 14.247806549072266, 21.0, 24.247806549072266)
    b = (0.0, 0.0, 10.0, 10.0)
    assert all(float(np.float32(v)) == v for v in a)  # boxes a float32 detector can give
    offset = np.array([16.0 - 5.0, (a[1] + a[3]) / 2 - 5.0])
    dx64 = (abs(offset[0]) - 0.1 * (10 + 10)) / np.linalg.norm(offset)
    assert dx64 > 0.5  # in double precision A would be right of B ...
    assert relative_position(a, b) == {"below"}  # ... but not in the official float32 arithmetic
    meta = {"tag": "position", "include": [one("dog"), one("cat", position=["right of", 0])]}
    verdict = judge(meta, [det("dog", 0.9, b), det("cat", 0.9, a)])
    assert not verdict.correct and verdict.reason == "expected cat right of target, found below target"


def test_counting_tag_uses_threshold_0_9():
    counting = {"tag": "counting", "include": [one("clock", 2)], "exclude": [one("clock", 3)]}
    confident = [det("clock", 0.95), det("clock", 0.92)]
    assert judge(counting, confident).correct
    # a third clock at 0.85 is below the counting threshold, so "exactly two" still holds ...
    assert judge(counting, [*confident, det("clock", 0.85)]).correct
    # ... but at 0.91 it counts, and the exclude clause fires
    verdict = judge(counting, [*confident, det("clock", 0.91)])
    assert not verdict.correct and verdict.reason == "expected clock<3, found 3"
    # 0.85 detections alone do not reach two under counting, but do under any other tag
    weak = [det("clock", 0.85), det("clock", 0.86)]
    assert judge(counting, weak).reason == "expected clock>=2, found 0"
    assert judge({"tag": "two_object", "include": [one("clock", 2)]}, weak).correct


def test_options_override_thresholds():
    meta = {"tag": "single_object", "include": [one("dog")]}
    assert not judge(meta, [det("dog", 0.4)], threshold=0.5).correct
    counting = {"tag": "counting", "include": [one("clock", 1)]}
    assert judge(counting, [det("clock", 0.6)], counting_threshold=0.5).correct


def test_at_most_16_kept_per_class_most_confident_first():
    many = [det("cup", 0.31 + 0.01 * i, (i, 0, i + 5, 5)) for i in range(20)]
    verdict = judge({"tag": "counting", "include": [one("cup", 17)]}, many, counting_threshold=0.3)
    assert verdict.reason == "expected cup>=17, found 16"
    kept = verdict.details["cup"]
    assert len(kept) == 16
    assert [b[4] for b in kept] == sorted((b[4] for b in kept), reverse=True)
    assert kept[0][:4] == [19.0, 0.0, 24.0, 5.0]
    # the cap also bounds what an exclude clause can see
    assert judge({"tag": "single_object", "include": [one("cup")], "exclude": [one("cup", 17)]}, many).correct
    assert (
        len(judge({"tag": "single_object", "include": [one("cup")]}, many, max_objects=3).details["cup"]) == 3
    )


def test_overlap_filter_is_off_by_default_and_works_when_set():
    twins = [
        det("dog", 0.9, (0, 0, 10, 10)),
        det("dog", 0.8, (1, 0, 11, 10)),
        det("dog", 0.7, (50, 50, 60, 60)),
    ]
    meta = {"tag": "two_object", "include": [one("dog", 3)]}
    assert judge(meta, twins).correct
    suppressed = judge(meta, twins, max_overlap=0.5)
    assert suppressed.reason == "expected dog>=3, found 2"
    # details hold the float32 values, as the official `box.tolist()` of mmdet's float32 rows does
    assert [b[4] for b in suppressed.details["dog"]] == [float(np.float32(0.9)), float(np.float32(0.7))]


def test_details_hold_kept_boxes_with_scores_per_class():
    verdict = judge(
        {"tag": "two_object", "include": [one("dog"), one("cat")]},
        [det("dog", 0.5, (1, 2, 3, 4)), det("cat", 0.6, (5, 6, 7, 8)), det("cup", 0.1)],
    )
    assert verdict.correct and verdict.reason == ""
    assert verdict.details == {"dog": [[1.0, 2.0, 3.0, 4.0, 0.5]], "cat": [[5.0, 6.0, 7.0, 8.0, float(np.float32(0.6))]]}


def test_detector_is_asked_for_the_whole_vocabulary_in_order():
    detector = FixedDetector([])
    judge_image(
        {"tag": "single_object", "include": [one("cat")], "prompt": "p"},
        IMAGE,
        detector,
        ColorByBox(),
        classes=CLASSES,
    )
    assert detector.calls == [list(CLASSES)]


# --------------------------------------------------------------------------------------- colour


def test_colour_checks_exactly_the_top_count_instances():
    boxes = {(0.0, 0.0, 10.0, 10.0): "blue", (20.0, 0.0, 30.0, 10.0): "red", (40.0, 0.0, 50.0, 10.0): "red"}
    dets = [
        det("cat", 0.9, (0, 0, 10, 10)),
        det("cat", 0.8, (20, 0, 30, 10)),
        det("cat", 0.7, (40, 0, 50, 10)),
    ]
    colors = ColorByBox(boxes)
    verdict = judge({"tag": "colors", "include": [one("cat", color="red")]}, dets, colors)
    # only the most confident cat is classified, and it is blue: the two red cats do not help
    assert colors.asked == [[(0.0, 0.0, 10.0, 10.0)]]
    assert not verdict.correct
    assert verdict.reason == "expected red cat>=1, found 0 red; and 1 blue"

    colors = ColorByBox(boxes)
    verdict = judge({"tag": "colors", "include": [one("cat", 2, color="red")]}, dets, colors)
    assert len(colors.asked[0]) == 2
    assert verdict.reason == "expected red cat>=2, found 1 red; and 1 red, 1 blue"

    colors = ColorByBox(boxes)
    assert judge({"tag": "colors", "include": [one("cat", color="red")]}, dets[1:], colors).correct


def test_colour_is_not_asked_when_the_count_already_failed():
    colors = ColorByBox()
    verdict = judge({"tag": "colors", "include": [one("cat", 2, color="red")]}, [det("cat", 0.9)], colors)
    assert colors.asked == [] and verdict.reason == "expected cat>=2, found 1"


# ------------------------------------------------------------------------------------- position


def box_at(cx: float, cy: float, w: float = 10.0, h: float = 10.0) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ((-30, 0), {"left of"}),
        ((30, 0), {"right of"}),
        ((0, -30), {"above"}),
        ((0, 30), {"below"}),
        ((-30, -30), {"left of", "above"}),
        ((30, 30), {"right of", "below"}),
    ],
)
def test_each_relation(offset, expected):
    b = box_at(50, 50)
    a = box_at(50 + offset[0], 50 + offset[1])
    assert relative_position(a, b) == expected


def test_margin_shrinks_the_offset_by_a_tenth_of_the_summed_sizes():
    b = box_at(50, 50, w=40, h=40)
    # x margin 0.1 * (40 + 40) = 8: offset 20 leaves 12, ratio 0.6 -> left; offset 15 leaves 7, ratio 0.47
    assert relative_position(box_at(30, 50, w=40, h=40), b) == {"left of"}
    assert relative_position(box_at(35, 50, w=40, h=40), b) == set()
    # the margin follows the option: 0.05 leaves 11 of 15
    assert relative_position(box_at(35, 50, w=40, h=40), b, position_threshold=0.05) == {"left of"}
    # the y margin uses the heights, not the widths
    assert relative_position(box_at(50, 35, w=40, h=4), box_at(50, 50, w=40, h=4)) == {"above"}
    assert relative_position(box_at(50, 35, w=4, h=40), box_at(50, 50, w=4, h=40)) == set()
    # an offset inside the margin vanishes entirely
    assert relative_position(box_at(45, 50, w=40, h=40), b) == set()


def test_ratio_uses_the_unshrunk_offset_length():
    b = box_at(50, 50, w=30, h=0)
    a = box_at(40, 50, w=30, h=0)  # offset (-10, 0); margin 6 on x leaves -4
    # -4 / |(-10, 0)| = -0.4: not "left of", though the shrunk vector points straight left
    assert relative_position(a, b) == set()
    a = box_at(35, 50, w=30, h=0)  # offset -15, shrunk -9, ratio -0.6
    assert relative_position(a, b) == {"left of"}


def test_ratio_threshold_is_one_half():
    b = box_at(0, 0, w=0, h=0)
    assert relative_position(box_at(-10, 17.2, w=0, h=0), b) == {"left of", "below"}  # -10/19.9 = -0.503
    assert relative_position(box_at(-10, 17.4, w=0, h=0), b) == {"below"}  # -10/20.07 = -0.498


def test_no_relation_when_both_shrunk_components_are_below_1e_3():
    b = (0.0, 0.0, 0.0, 0.0)  # zero-size boxes: no margin, so the raw offset meets the 1e-3 test
    assert relative_position((0.0009, 0.0009, 0.0009, 0.0009), b) == set()
    assert relative_position((0.0011, 0.0, 0.0011, 0.0), b) == {"right of"}
    assert relative_position((0.0, -0.0011, 0.0, -0.0011), b) == {"above"}


def position_meta(relation: str) -> dict:
    return {"tag": "position", "include": [one("cat"), one("dog", position=[relation, 0])]}


def test_position_clause_pass_and_fail_messages():
    cat = det("cat", 0.9, box_at(50, 50))
    dog_left = det("dog", 0.9, box_at(20, 50))
    assert judge(position_meta("left of"), [cat, dog_left]).correct
    verdict = judge(position_meta("right of"), [cat, dog_left])
    assert not verdict.correct
    assert verdict.reason == "expected dog right of target, found left of target"
    dog_on_top = det("dog", 0.9, box_at(50, 50))
    assert (
        judge(position_meta("above"), [cat, dog_on_top]).reason == "expected dog above target, found  target"
    )
    diagonal = det("dog", 0.9, box_at(20, 20))
    assert judge(position_meta("below"), [cat, diagonal]).reason == (
        "expected dog below target, found left of and above target"
    )


def test_position_needs_every_instance_against_every_target_one_message():
    meta = {"tag": "position", "include": [one("cat", 2), one("dog", 2, position=["left of", 0])]}
    cats = [det("cat", 0.9, box_at(80, 20)), det("cat", 0.8, box_at(80, 80))]
    dogs = [det("dog", 0.9, box_at(20, 20)), det("dog", 0.8, box_at(20, 80))]
    assert judge(meta, cats + dogs).correct
    stray = [dogs[0], det("dog", 0.8, box_at(95, 50))]  # second dog right of both cats
    verdict = judge(meta, cats + stray)
    assert verdict.reason.count("\n") == 0 and verdict.reason.startswith("expected dog left of target")
    # a less confident third dog is beyond `count`, so it is not checked
    assert judge(meta, cats + dogs + [det("dog", 0.5, box_at(95, 50))]).correct


def test_failed_target_clause_fails_the_position_clause():
    dog = det("dog", 0.9, box_at(20, 50))
    verdict = judge(position_meta("left of"), [dog])
    assert verdict.reason == "expected cat>=1, found 0\nno target for dog to be left of"
    # a colour failure of the target counts as a failed clause too
    meta = {"tag": "position", "include": [one("cat", color="red"), one("dog", position=["left of", 0])]}
    cat = det("cat", 0.9, box_at(50, 50))
    colors = ColorByBox({cat.box: "blue"})
    verdict = judge(meta, [cat, dog], colors)
    assert verdict.reason.split("\n") == [
        "expected red cat>=1, found 0 red; and 1 blue",
        "no target for dog to be left of",
    ]


def test_position_threshold_option():
    cat, dog = det("cat", 0.9, box_at(50, 50, w=40)), det("dog", 0.9, box_at(30, 50, w=40))
    assert judge(position_meta("left of"), [cat, dog]).correct
    assert not judge(position_meta("left of"), [cat, dog], position_threshold=0.2).correct


# -------------------------------------------------------------------------------------- exclude


def test_exclude_clauses_and_one_reason_per_failed_clause():
    meta = {
        "tag": "two_object",
        "include": [one("dog"), one("cup")],
        "exclude": [one("cat", 1), one("clock", 2)],
    }
    dets = [det("dog", 0.9), det("cat", 0.5), det("clock", 0.5), det("clock", 0.4)]
    verdict = judge(meta, dets)
    assert verdict.reason.split("\n") == [
        "expected cup>=1, found 0",
        "expected cat<1, found 1",
        "expected clock<2, found 2",
    ]
    assert judge(meta, [det("dog", 0.9), det("cup", 0.9), det("clock", 0.5)]).correct


# ------------------------------------------------------------------------------------- metadata


def test_unknown_class_is_a_per_sample_error_with_a_hint():
    detector = FixedDetector([])
    with pytest.raises(
        GenEvalMetadataError, match=r"'dgo' is not in the detector's vocabulary.*did you mean 'dog'"
    ):
        judge_image(
            {"tag": "single_object", "include": [one("dgo")], "prompt": "p"},
            IMAGE,
            detector,
            ColorByBox(),
            classes=CLASSES,
        )
    assert detector.calls == []  # rejected before any judge runs
    assert issubclass(GenEvalMetadataError, UnscorableError)


def test_a_bad_record_does_not_stop_the_others():
    good = {"tag": "single_object", "include": [one("dog")], "prompt": "a photo of a dog"}
    bad = {"tag": "single_object", "include": [one("unicorn")], "prompt": "a photo of a unicorn"}
    records = []
    for i, meta in enumerate([good, bad, good]):
        try:
            verdict = judge_image(
                meta, IMAGE, FixedDetector([det("dog", 0.9)]), ColorByBox(), classes=CLASSES
            )
            records.append(result_record(f"{i}.png", meta, verdict))
        except UnscorableError as exc:
            records.append(unscored_record(f"{i}.png", meta, str(exc)))
    summary = summarize(records)
    assert summary["scored"] == 2 and summary["unscored"] == 1 and summary["correct_images"] == 1.0
    assert "unicorn" in next(iter(summary["unscored_reasons"]))


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"tag": "colors", "include": [one("dog", color="teal")]}, "colour 'teal'"),
        ({"tag": "position", "include": [one("dog"), one("cat", position=["near", 0])]}, "relation 'near'"),
        ({"tag": "position", "include": [one("dog", position=["left of", 0])]}, "earlier include"),
        ({"tag": "single_object", "include": [one("dog", 0)]}, "positive integer"),
        ({"include": [one("dog")]}, "no 'tag'"),
        ({"tag": "counting", "include": [one("dog")], "exclude": [one("cta", 2)]}, "exclude"),
    ],
)
def test_malformed_metadata_is_reported(meta, message):
    with pytest.raises(GenEvalMetadataError, match=message):
        validate_metadata(meta, CLASSES)


def test_every_official_record_validates_against_object_names():
    classes = read_class_names(PROMPTS / "object_names.txt")
    assert len(classes) == 80 and classes[0] == "person"
    records = [json.loads(line) for line in (PROMPTS / "evaluation_metadata.jsonl").read_text().splitlines()]
    assert len(records) == 553
    for record in records:
        validate_metadata(record, classes)
    assert Counter(r["tag"] for r in records) == {
        "single_object": 80,
        "two_object": 99,
        "counting": 80,
        "colors": 94,
        "position": 100,
        "color_attr": 100,
    }
    assert set(TAGS) == {r["tag"] for r in records}


def test_options_parse_like_the_official_flag():
    opts = GenEvalOptions.from_strings(["threshold=0.5", "max_objects=4", "crop=0", "bgcolor=original"])
    assert opts == GenEvalOptions(threshold=0.5, max_objects=4, crop=False, bgcolor="original")
    assert GenEvalOptions() == GenEvalOptions(0.3, 0.9, 16, 1.0, 0.1, "#999", True)
    with pytest.raises(UnoError, match="did you mean 'threshold'"):
        GenEvalOptions.from_strings({"treshold": "0.5"})
    with pytest.raises(UnoError, match="choose judges"):
        GenEvalOptions.from_strings(["clip_model=ViT-B-32"])
    with pytest.raises(UnoError, match="max_objects"):
        GenEvalOptions.from_strings(["max_objects=many"])


# ------------------------------------------------------------------------------------ summarize


def rec(tag: str, meta_id: int, correct: bool) -> dict:
    meta = {"tag": tag, "include": [one("dog", meta_id)], "prompt": f"p{meta_id}"}
    return result_record(f"{meta_id}.png", meta, GenEvalVerdict(correct, "" if correct else "x"))


def test_summary_overall_is_the_unweighted_mean_of_task_accuracies():
    records = [
        rec("single_object", 1, True),
        rec("single_object", 1, False),
        rec("single_object", 2, True),
        rec("single_object", 2, True),
        rec("counting", 3, False),
        rec("counting", 3, False),
        rec("position", 4, True),
        rec("position", 4, False),
    ]
    records.append(
        unscored_record("x.png", {"tag": "position", "include": [], "prompt": "p5"}, "replay miss")
    )
    summary = summarize(records, expected=12)
    assert summary["tasks"] == {
        "single_object": {"accuracy": 0.75, "correct": 3, "n": 4},
        "counting": {"accuracy": 0.0, "correct": 0, "n": 2},
        "position": {"accuracy": 0.5, "correct": 1, "n": 2},
    }
    assert summary["overall"] == pytest.approx((0.75 + 0.0 + 0.5) / 3)
    assert summary["correct_images"] == pytest.approx(4 / 8)  # image-weighted, not the headline
    assert summary["total_images"] == 8 and summary["total_prompts"] == 4
    assert summary["correct_prompts"] == pytest.approx(3 / 4)  # prompt 3 has no correct image
    assert (
        summary["scored"] == 8
        and summary["unscored"] == 1
        and summary["unscored_reasons"] == {"replay miss": 1}
    )
    assert summary["expected"] == 12 and summary["coverage"] == pytest.approx(8 / 12)


def test_unscored_records_never_count_as_wrong():
    records = [rec("colors", 1, True), unscored_record("b.png", {"tag": "colors", "prompt": "p"}, "no image")]
    summary = summarize(records)
    assert summary["tasks"]["colors"] == {"accuracy": 1.0, "correct": 1, "n": 1}
    assert summary["overall"] == 1.0 and summary["coverage"] == 0.5


def test_summary_of_nothing_scored():
    summary = summarize([unscored_record("a.png", {"tag": "colors", "prompt": "p"}, "why")], expected=4)
    assert summary["overall"] is None and summary["tasks"] == {} and summary["coverage"] == 0.0


def test_records_carry_the_official_fields():
    meta = {"tag": "single_object", "include": [one("dog")], "prompt": "a photo of a dog"}
    verdict = judge(meta, [det("dog", 0.9, (1, 2, 3, 4))])
    row = result_record("00000/samples/0000.png", meta, verdict)
    assert list(row)[:7] == ["filename", "tag", "prompt", "correct", "reason", "metadata", "details"]
    assert json.loads(row["metadata"]) == meta
    assert json.loads(row["details"]) == {"dog": [[1.0, 2.0, 3.0, 4.0, float(np.float32(0.9))]]}
    assert row["scored"] is True and row["unscored_reason"] is None
    assert np.isclose(summarize([row])["overall"], 1.0)
