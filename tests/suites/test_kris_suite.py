"""KRIS-Bench: the released annotation keys, the five scripts' message layouts and parsers (quirks included:
the first-digit fallback, the unformatted quality prompt), (s-1) x 25 normalisation pooled by task, dimension,
knowledge type and overall, by hand; against an OpenAI-compatible endpoint on 127.0.0.1 and with the tiny model
taking every input image of the multi-image tasks."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import threading

import pytest
from conftest import uno_cmd
from edit_fixtures import KRIS_ITEMS, kris_dataset, single_thread
from judge_fixtures import Reply, chat_server, completion
from PIL import Image

from uno_bench.report import build_report, load_run
from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.records import read_lines
from uno_bench.suites import kris
from uno_bench.suites.registry import load_suite

# (sample id, metric) -> reply; the normalised values each gives are in the comments.
REPLIES = {
    ("count_change.1", "VC"): '{"reasoning": "same", "consistency_score": 5}',  # 100
    ("count_change.1", "IF"): "Instruction score: 4",  # 75 (named)
    ("count_change.1", "VQ"): "Overall I would say 4/5.",  # 75 (n/5)
    ("color_change.1", "VC"): '{"consistency_score": 3}',  # 50
    ("color_change.1", "IF"): '{"instruction_score": 2, "reasoning": "partly"}',  # 25
    ("color_change.1", "VQ"): "It looks fine overall.",  # no score: skipped
    ("viewpoint_change.1", "VC"): '{"consistency_score": 4}',  # 75
    ("viewpoint_change.1", "IF"): '{"instruction_score": 3}',  # 50
    ("viewpoint_change.1", "VQ"): '{"quality_score": 5}',  # 100
    ("chemistry.1", "VC"): '{"consistency_score": 4}',  # 75
    ("chemistry.1", "DUAL"): '{"instruction_score": 5, "knowledge_score": 4}',  # 100, 75
    ("chemistry.1", "VQ"): '{"quality_score": 3}',  # 50
    ("chemistry.2", "VC"): "Consistency score 2, elements changed.",  # 25 (no colon: the first-digit rule)
    ("chemistry.2", "DUAL"): '{"instruction_score": 3, "instruction_reasoning": 1. Detect, "knowledge_score": 1}',
    ("chemistry.2", "VQ"): '{"quality_score": 4}',  # 75
    ("multi-element_composition.1", "VC"): '{"consistency_score": 4}',  # 75
    ("multi-element_composition.1", "IF"): '{"instruction_score": 4}',  # 75
    ("multi-element_composition.1", "VQ"): '{"quality_score": 2}',  # 25
    ("temporal_prediction.1", "VC"): '{"consistency_score": 1}',  # 0
    ("temporal_prediction.1", "IF"): '{"instruction_score": 2}',  # 25
    ("temporal_prediction.1", "VQ"): '{"quality_score": 5}',  # 100
}
EDIT_COLORS = {f"{c}.{i}": (30 * k, 250 - 30 * k, 40 + 20 * k) for k, (c, i, *_) in enumerate(KRIS_ITEMS)}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))


def test_real_annotations_use_the_released_keys(shared_suites):
    samples = load_suite("kris", shared_suites).load_samples()
    assert len(samples) == 1267 and len({s.id for s in samples}) == 1267
    by = {s.id: s for s in samples}
    assert by["count_change.1"].prompt == "Remove one apple." and by["count_change.1"].metadata["ori_img"] == ["1.png"]
    assert sum(1 for s in samples if s.metadata["explain"]) == 667
    assert by["temporal_prediction.1"].metadata["ori_img"] == ["1-2.jpg", "1-3.jpg", "1-4.jpg"]
    assert kris.frame_numbers(["1-2.jpg", "1-3.jpg", "1-4.jpg"]) == ([2, 3, 4], 1)
    assert {kris.SCRIPTS[s.category] for s in samples} == {"common", "knowledge", "multi", "temporal", "view"}


def test_parsers_reproduce_the_scripts():
    parse = kris.parse_score
    assert parse('{"reasoning": "x", "consistency_score": 4}', "VC", "common") == (4, "json")
    assert parse('{"consistency_score": "4"}', "VC", "common") == (4, "json")
    # The requested format is not JSON (unquoted reasoning) and the named pattern stops at the quote:
    # the first standalone digit wins, here the wrong one.
    reply = 'Comparison: 2 elements changed.\n{"reasoning": **Compared** x, "consistency_score": 3}'
    assert parse(reply, "VC", "common") == (2, "first digit")
    assert parse("Consistency Score: 5", "VC", "common") == (5, "named")
    assert parse("consistency score 5", "VC", "common") == (5, "named")  # colon optional in metrics_common
    assert parse("consistency score 5", "VC", "knowledge") == (5, "first digit")  # required in metrics_knowledge
    assert parse("I rate it 3 out of 5", "VQ", "multi") == (3, "n out of 5")
    assert parse("no numbers", "IF", "temporal") == (None, None) and parse(None, "IF", "common") == (None, None)
    assert kris.parse_dual('{"instruction_score": 5, "knowledge_score": 4}') == {"IF": (5, "json"), "KP": (4, "json")}
    assert kris.parse_dual("Instruction score: 3\nknowledge_score: 1") == {"IF": (3, "named"), "KP": (1, "named")}
    assert kris.parse_dual(REPLIES[("chemistry.2", "DUAL")]) == {"IF": (None, None), "KP": (None, None)}
    assert kris.normalise(1) == 0 and kris.normalise(5) == 100


def test_pooled_aggregation_by_hand():
    def rec(task, **norm):
        dim, kt = kris.TAXONOMY[task]
        return {"scored": True, "category": task, "dimension": dim, "knowledge_type": kt, "normalised": norm}

    out = kris.summarize([rec("chemistry", VC=100, IF=50, KP=0, VQ=50), rec("chemistry", VC=0, VQ=100),
                          rec("color_change", VC=75, IF=25, VQ=50)], ("color_change", "chemistry"))
    assert out["overall"] == pytest.approx((200 + 100 + 150) / 9)  # pooled, not the mean of image means
    assert out["categories"]["chemistry"] == pytest.approx({"VC": 50, "IF": 50, "KP": 0, "VQ": 75, "AVG": 300 / 6,
                                                            "n_images": 2, "n_values": 6})
    assert out["dimensions"]["Natural Science"]["AVG"] == pytest.approx(50)
    assert out["knowledge_types"]["Factual"]["AVG"] == pytest.approx(50)
    assert list(out["categories"]) == ["color_change", "chemistry"]


def _metric_of(text):
    """Which metric a prompt asks for, by the score key its output format names."""
    if "knowledge_score" in text:
        return "DUAL"
    for metric, key in (("VC", "consistency_score"), ("VQ", "quality_score"), ("IF", "instruction_score")):
        if key in text:
            return metric
    raise AssertionError(text[:80])


def _decode(url):
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def test_layouts_and_scores_through_the_cli(tmp_path, uno_env):
    data = tmp_path / "data"
    prompts_file = kris_dataset(data)
    folder = tmp_path / "edits"
    for sid, color in EDIT_COLORS.items():
        category, id_ = sid.rsplit(".", 1)
        (folder / category).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), color).save(folder / category / f"{id_}.png")
    instructions = {f"{c}.{i}": ins for c, i, _, _, ins, _ in KRIS_ITEMS}
    layouts = {}
    lock = threading.Lock()

    def respond(body, number):
        parts = body["messages"][0]["content"]
        text = parts[0]["text"]
        metric = _metric_of(text)
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert all(u.startswith("data:image/jpeg;base64,") for u in urls) and body["max_tokens"] == 1000
        edited = _decode(urls[-1] if metric == "VQ" else next(
            p["image_url"]["url"] for i, p in enumerate(parts) if p["type"] == "image_url" and
            parts[i - 1]["text"] in ("This is the edited image:", "Predicted Image:", "Frame 3 (Generated):")))
        sid = min(EDIT_COLORS, key=lambda s: sum((a - b) ** 2 for a, b in zip(edited.getpixel((4, 4)), EDIT_COLORS[s])))
        if metric != "VQ":
            assert instructions[sid] in text
        else:
            assert "{{" in text  # the quality prompt goes out unformatted, as upstream sends it
        with lock:
            layouts[(sid, metric)] = [p["text"] if p["type"] == "text" else "<image>" for p in parts[1:]]
        return Reply(body=completion(REPLIES[(sid, metric)]))

    with chat_server(respond) as server:
        args = ["score", "kris", "--images", str(folder), "--data-dir", str(data), "--prompts-file", str(prompts_file),
                "--run-dir", str(tmp_path / "run"), "--judge", "gpt-4o-2024-11-20",
                "--judge-option", f"base_url={server.url}"]
        done = subprocess.run(uno_cmd(*args), env=uno_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert server.calls == 21
    two = ["This is the original image:", "<image>", "This is the edited image:", "<image>"]
    assert layouts[("count_change.1", "VC")] == two and layouts[("chemistry.1", "DUAL")] == two
    assert layouts[("count_change.1", "VQ")] == ["This is the edited image:", "<image>"]
    assert layouts[("viewpoint_change.1", "IF")] == [*two, "This is the ground truth image:", "<image>"]
    assert layouts[("multi-element_composition.1", "IF")] == [
        "Reference Image 1:", "<image>", "Reference Image 2:", "<image>", "Reference Image 3:", "<image>",
        "Predicted Image:", "<image>"]
    assert layouts[("multi-element_composition.1", "VQ")] == ["This is the image to evaluate:", "<image>"]
    assert layouts[("temporal_prediction.1", "VC")] == [
        "Frame 1 (Reference):", "<image>", "Frame 2 (Reference):", "<image>", "Frame 3 (Generated):", "<image>",
        "Frame 4 (Reference):", "<image>"]
    res = json.loads((tmp_path / "run" / "summary.json").read_text())["results"]
    assert res["overall"] == pytest.approx(1250 / 20)
    assert res["categories"]["chemistry"]["AVG"] == pytest.approx(400 / 6)
    assert res["categories"]["chemistry"]["IF"] == 100 and res["categories"]["chemistry"]["KP"] == 75
    assert res["knowledge_types"]["Factual"]["AVG"] == pytest.approx((250 + 75 + 225 + 125) / 11)
    assert res["knowledge_types"]["Procedural"]["AVG"] == pytest.approx(175 / 3)
    assert res["images"] == {"judged": 7, "unscored_no_score": 0, "with_missing_scores": 2}
    assert res["first_digit_fallbacks"] == 1 and res["judge"]["official"] is True
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / "run" / "records.jsonl")}
    assert records["chemistry.2"]["missing"] == ["IF", "KP"] and records["chemistry.2"]["weight"] == 2
    assert records["chemistry.2"]["parse_rules"]["VC"] == "first digit"
    report = build_report([load_run(tmp_path / "run", "fixture")], baseline="fixture")
    assert not [n for n in report.suites[0].footnotes if "re-aggregate" in n]  # weights reproduce the pooled mean
    assert report.suites[0].rows[0].cells["overall"].value == pytest.approx(62.5)


def test_tiny_model_takes_every_input_image(tmp_path, tiny_ckpt):
    data = tmp_path / "data"
    prompts_file = kris_dataset(data)
    suite = load_suite("kris", data)
    sample = next(s for s in suite.load_samples(prompts_file) if s.category == "multi-element_composition")
    assert [im.size for im in suite.source_images(sample)] == [(24, 16)] * 3
    reply = completion('{"consistency_score": 3, "instruction_score": 3, "knowledge_score": 3, "quality_score": 3}')
    with chat_server(lambda body, n: Reply(body=reply)) as server, single_thread():
        result = run_suite(RunOptions(suite="kris", ckpt=str(tiny_ckpt), data_dir=data, prompts_file=prompts_file,
                                      run_dir=tmp_path / "run", sampler={"num_timesteps": 3}, batch_size=7,
                                      judge="openai", judge_options={"base_url": server.url, "model": "gpt-4o"},
                                      show_progress=False))
        assert server.calls == 21
    assert result.generate.written == 7 and not result.generate.failed
    assert (tmp_path / "run/images/temporal_prediction/1.png").is_file()
    assert result.summary["results"]["overall"] == pytest.approx(50.0)
    assert result.summary["coverage"]["scored"] == 7
