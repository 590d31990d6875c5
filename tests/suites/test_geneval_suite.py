"""GenEval: official samples and layout, judge selection, and scoring another tool's folder in place
(`uno-bench score geneval --images DIR`) with every kind of per-image failure recorded as unscored."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.base import Detection
from uno_bench.judges.replay import Recorder
from uno_bench.runs.plan import make_plan
from uno_bench.runs.records import read_lines
from uno_bench.suites.registry import load_suite


def test_official_samples_ids_and_layout(shared_suites):
    suite = load_suite("geneval", shared_suites)
    samples = suite.load_samples()
    assert len(samples) == 553 and samples[0].id == "00000" and samples[-1].id == "00552"
    assert Counter(s.category for s in samples) == {"single_object": 80, "two_object": 99, "counting": 80,
                                                   "colors": 94, "position": 100, "color_attr": 100}
    assert suite.image_relpath(samples[12], 3) == "00012/samples/0003.png"
    official_line = (shared_suites / "geneval/prompts/evaluation_metadata.jsonl").read_text().splitlines()[12]
    assert json.loads(suite.layout_files(samples[12])["00012/metadata.jsonl"]) == json.loads(official_line)
    assert len(suite.classes) == 80 and suite.classes[0] == "person"


def test_bagel_rewritten_prompts_file_keeps_ids_and_tasks(shared_suites):
    suite = load_suite("geneval", shared_suites)
    rewritten = shared_suites / "geneval/bagel_rewritten/evaluation_metadata_long.jsonl"
    plan = make_plan(suite, prompts_file=rewritten, limit=5)
    original = suite.load_samples()[:5]
    assert [s.id for s in plan.samples] == [s.id for s in original]
    assert [s.metadata["include"] for s in plan.samples] == [s.metadata["include"] for s in original]
    assert len(plan.samples[0].prompt.split()) > 30
    section = plan.manifest_section()
    assert section["prompts_file"]["sha256"] == "09472cc9c24e225417b1d5df27e688e5f2a0fcac9ec772f33d9debe4e5d49f27"
    assert section["data"] == {"object_names": "608f6a0e5c8ca1c7a92b818430141fe268c85b7930b50f4160f1d65893b5bacd"}


def test_judges_are_chosen_by_name_with_clear_errors(shared_suites):
    suite = load_suite("geneval", shared_suites)
    with pytest.raises(UnoError, match="recording=PATH"):
        suite.load_judge("replay", {})
    with pytest.raises(UnoError, match="did you mean 'replay'"):
        suite.load_judge("replai", {})
    with pytest.raises(UnoError, match="DETECTOR\\+COLOURS"):
        suite.load_judge("mask2former+", {})
    with pytest.raises(UnoError, match="unknown GenEval option 'treshold'; did you mean 'threshold'"):
        suite.load_judge("shapes-analytic", {"treshold": "0.5"})
    import importlib.util

    if importlib.util.find_spec("uno_bench.judges.mask2former") is None:
        with pytest.raises(UnoError, match="judge 'mask2former' is registered but not available"):
            suite.load_judge("mmdet+clip", {})


class ScriptedDetector:
    """Stands in for Mask2Former when making a recording: answers per image, from the test's script."""

    def __init__(self, answers: dict[bytes, list[Detection]]):
        self.answers = answers

    def identity(self) -> dict:
        return {"name": "scripted-detector", "version": 1}

    def detect(self, image: Image.Image, classes) -> list[Detection]:
        return self.answers[image.tobytes()]


def _image(folder: Path, rel: str, shade: int) -> Image.Image:
    image = Image.new("RGB", (32, 32), (shade, 40, 90))
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    image.save(folder / rel)
    return image


def test_score_another_tools_folder_in_place(tmp_path, shared_suites, uno_env):
    from conftest import uno_cmd

    official = (shared_suites / "geneval/prompts/evaluation_metadata.jsonl").read_text().splitlines()[:3]
    dragon = {"tag": "single_object", "include": [{"class": "dragon", "count": 1}], "prompt": "a photo of a dragon"}
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join([*official, json.dumps(dragon)]) + "\n")
    records = [json.loads(line) for line in prompts.read_text().splitlines()]

    folder = tmp_path / "other_tool"
    box = (4.0, 4.0, 20.0, 20.0)
    answers, to_record = {}, []
    for p, record in enumerate(records):
        theirs = official[0] if p == 2 else json.dumps(record)  # prompt 2: a folder for another prompt
        (folder / f"{p:05d}").mkdir(parents=True)
        (folder / f"{p:05d}/metadata.jsonl").write_text(theirs)
        wanted = record["include"][0]["class"]
        for k in range(4):
            image = _image(folder, f"{p:05d}/samples/{k:04d}.png", 10 * p + k)
            label = "cow" if (p, k) == (0, 2) else wanted  # a cow where a bench was asked for
            answers[image.tobytes()] = [Detection(label, 0.95, box)]
            if (p, k) != (0, 3):  # one image the recording never saw
                to_record.append(image)
    recording = tmp_path / "m2f.jsonl"
    classes = load_suite("geneval", shared_suites).classes
    with Recorder(ScriptedDetector(answers), recording) as recorder:
        for image in to_record:
            recorder.detect(image, classes)
    (folder / "00001/samples/0001.png").unlink()
    truncated = folder / "00001/samples/0000.png"
    truncated.write_bytes(truncated.read_bytes()[:60])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    run_dir = tmp_path / "run"
    cmd = uno_cmd("score", "geneval", "--images", str(folder), "--data-dir", str(shared_suites), "--prompts-file",
                  str(prompts), "--judge", "replay", "--judge-option", f"recording={recording}",
                  "--run-dir", str(run_dir))
    done = subprocess.run(cmd, env=uno_env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # a partial result: 11 of 16 images unscored (docs/faults.md)
    assert "11 image(s) unscored" in done.stderr
    assert "coverage 5/16" in done.stdout and "published: BAGEL overall = 0.82" in done.stdout

    view = {r["key"]: r for r in read_lines(run_dir / "records.jsonl")}
    assert len(view) == 16 and sum(r["scored"] for r in view.values()) == 5
    assert [view[f"00000/{k}"]["correct"] for k in range(3)] == [True, True, False]
    assert view["00000/2"]["reason"] == "expected bench>=1, found 0"
    assert view["00000/3"]["unscored_reason"].startswith("judge failed: no recorded detections")
    assert view["00001/0"]["unscored_reason"].startswith("unreadable image")
    assert view["00001/1"]["unscored_reason"] == "image missing"
    assert view["00002/0"]["unscored_reason"] == (
        "judge failed: the image folder's metadata.jsonl is for another prompt ('a photo of a bench')")
    # An unknown class is refused when the plan is made (before any image would be drawn), with its line.
    assert view["00003/0"]["unscored_reason"].startswith("invalid sample: ")
    assert "line 4: include[0]: class 'dragon' is not in" in view["00003/0"]["unscored_reason"]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["results"]["overall"] == pytest.approx(4 / 5)  # unscored images are not wrong
    assert summary["coverage"]["scored"] == 5 and summary["coverage"]["expected"] == 16
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["images"] == {"root": str(folder.resolve()), "external": True}
    assert manifest["scoring"]["identity"]["detector"]["recorded"] == {"name": "scripted-detector", "version": 1}
    assert before == {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # read in place, untouched
    assert not (run_dir / "images").exists()

    # Resume (the run dir remembers the folder, prompts and judge): nothing new is judged; a different
    # judge into the same run dir is refused.
    again = subprocess.run(uno_cmd("score", "geneval", "--data-dir", str(shared_suites), "--run-dir", str(run_dir)),
                           env=uno_env, capture_output=True, text=True)
    assert again.returncode == 1 and "0 scored, 11 unscored, 5 already judged" in again.stdout
    other = subprocess.run([*cmd[:-4], "--judge", "shapes-analytic", "--run-dir", str(run_dir)], env=uno_env,
                           capture_output=True, text=True)
    assert other.returncode == 2 and "scoring.judge" in other.stderr and "another --run-dir" in other.stderr


class ScriptedColors:
    """Stands in for CLIP when making a recording: one colour per box, from the test's script."""

    def __init__(self, colors: dict[tuple, str]):
        self.colors = colors

    def identity(self) -> dict:
        return {"name": "scripted-colors", "version": 1}

    def classify(self, image, detections, class_name, colors) -> list[str]:
        return [self.colors[d.box] for d in detections]


def test_cli_records_detector_and_colour_answers_and_replays_them(tmp_path, shared_suites, uno_env):
    """`--judge-option record=FILE` on `score geneval` writes detector and colour answers to one file;
    `--judge replay --judge-option recording=FILE` answers from it with the same verdicts."""
    from conftest import uno_cmd

    from uno_bench.judges.replay import JudgePair, ReplayJudge
    from uno_bench.suites import geneval_rules as rules

    lines = (shared_suites / "geneval/prompts/evaluation_metadata.jsonl").read_text().splitlines()
    colour_line = next(line for line in lines if json.loads(line)["tag"] == "colors")
    position_line = next(line for line in lines if json.loads(line)["tag"] == "position")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(colour_line + "\n" + position_line + "\n")
    records = [json.loads(colour_line), json.loads(position_line)]
    classes = load_suite("geneval", shared_suites).classes

    folder = tmp_path / "images"
    answers: dict[bytes, list[Detection]] = {}
    colours: dict[tuple, str] = {}
    images = []
    for p, record in enumerate(records):
        (folder / f"{p:05d}").mkdir(parents=True)
        (folder / f"{p:05d}/metadata.jsonl").write_text(json.dumps(record))
        for k in range(2):
            image = _image(folder, f"{p:05d}/samples/{k:04d}.png", 30 * p + k)
            images.append((record, image))
            if p == 0:  # the colour prompt: right colour on image 0, wrong on image 1
                box = (2.0 + k, 2.0, 20.0, 20.0)
                colours[box] = record["include"][0]["color"] if k == 0 else "purple"
                answers[image.tobytes()] = [Detection(record["include"][0]["class"], 0.8, box)]
            else:  # the position prompt: A right of / left of B  (include[1] is A, include[0] B)
                target, subject = record["include"][0]["class"], record["include"][1]["class"]
                left, right = (0.0, 10.0, 8.0, 18.0), (22.0, 10.0, 30.0, 18.0)
                relation = record["include"][1]["position"][0]
                a_box, b_box = (right, left) if (relation == "right of") == (k == 0) else (left, right)
                answers[image.tobytes()] = [Detection(target, 0.9, b_box), Detection(subject, 0.9, a_box)]
    first = tmp_path / "first.jsonl"
    with Recorder(JudgePair(ScriptedDetector(answers), ScriptedColors(colours)), first) as recorder:
        for record, image in images:
            rules.judge_image(record, image, recorder, recorder, classes=classes)

    def score(run_dir: Path, *options: str) -> dict:
        cmd = uno_cmd("score", "geneval", "--images", str(folder), "--data-dir", str(shared_suites),
                      "--prompts-file", str(prompts), "--images-per-prompt", "2", "--judge", "replay",
                      *[x for o in options for x in ("--judge-option", o)], "--run-dir", str(run_dir))
        done = subprocess.run(cmd, env=uno_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return {r["key"]: (r["correct"], r["reason"]) for r in read_lines(run_dir / "records.jsonl")}

    second = tmp_path / "second.jsonl"
    recorded = score(tmp_path / "a", f"recording={first}", f"record={second}")
    replayed = score(tmp_path / "b", f"recording={second}")
    assert replayed == recorded
    colour = records[0]["include"][0]
    assert recorded["00000/0"] == (True, "")
    assert recorded["00000/1"] == (False, f"expected {colour['color']} {colour['class']}>=1, found 0 "
                                          f"{colour['color']}; and 1 purple")
    assert recorded["00001/0"][0] is True and recorded["00001/1"][0] is False
    ops = Counter(json.loads(line).get("op") for line in second.read_text().splitlines()[1:])
    assert ops == {"detect": 4, "classify": 2}
    header = json.loads(second.read_text().splitlines()[0])
    assert set(header["identity"]) == {"detector", "colors"}
    assert ReplayJudge(second).recorded_identity["colors"]["recorded"]["colors"] == ScriptedColors({}).identity()


def test_record_option_wraps_both_judges_in_one_recorder(tmp_path, shared_suites):
    suite = load_suite("geneval", shared_suites)
    judge = suite.load_judge("shapes-analytic", {"record": str(tmp_path / "rec.jsonl"), "threshold": "0.5"})
    assert judge.detector is judge.colors and isinstance(judge.detector, Recorder)
    assert judge.options.threshold == 0.5
    header = json.loads((tmp_path / "rec.jsonl").read_text().splitlines()[0])
    assert (header["identity"]["detector"]["name"], header["identity"]["colors"]["name"]) == (
        "shapes-analytic-detector", "shapes-analytic-color")
