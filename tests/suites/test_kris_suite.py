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
    # metrics_knowledge: colon optional in BAGEL's copy, required in the release's
    assert parse("consistency score 5", "VC", "knowledge") == (5, "named")
    assert parse("consistency score 5", "VC", "knowledge", "release") == (5, "first digit")
    assert parse("I rate it 3 out of 5", "VQ", "multi") == (3, "n out of 5")
    assert parse("no numbers", "IF", "temporal") == (None, None) and parse(None, "IF", "common") == (None, None)
    assert kris.normalise(1) == 0 and kris.normalise(5) == 100


@pytest.mark.parametrize("scorer", ["bagel", "release"])
def test_a_json_null_score_is_none_in_the_knowledge_script(scorer):
    """metrics_knowledge returns the JSON value itself (null -> None); the shared extractor of the other
    scripts treats a null like no JSON and goes on to the patterns, down to the first digit."""
    null = '{"quality_score": null, "reasoning": "2 regions blurred, 3 fine"}'
    assert kris.parse_score(null, "VQ", "knowledge", scorer) == (None, "json null")
    assert kris.parse_score(null, "VQ", "common", scorer) == (2, "first digit")
    assert kris.parse_score(null, "VQ", "temporal", scorer) == (2, "first digit")
    broken = '{"quality_score": high, "reasoning": "x"} Quality score: 4'  # not JSON: the patterns
    assert kris.parse_score(broken, "VQ", "knowledge", scorer) == (4, "named")


def test_dual_parsers_of_both_copies():
    strict, lenient = (lambda t: kris.parse_dual(t, "release")), (lambda t: kris.parse_dual(t, "bagel"))
    for parse in (strict, lenient):
        assert parse('{"instruction_score": 5, "knowledge_score": 4}') == {"IF": (5, "json"), "KP": (4, "json")}
        assert parse("Instruction score: 3\nknowledge_score: 1") == {"IF": (3, "named"), "KP": (1, "named")}
        assert parse("") == {"IF": (None, None), "KP": (None, None)}
    malformed = REPLIES[("chemistry.2", "DUAL")]  # unquoted reasoning: not JSON
    assert strict(malformed) == {"IF": (None, None), "KP": (None, None)}
    assert lenient(malformed) == {"IF": (3, "named"), "KP": (1, "named")}  # '"instruction_score": 3' still read
    nested = 'Result: {"scores": {"x": 1}, "instruction_score": 4, "knowledge_score": 2}'
    assert strict(nested) == {"IF": (None, None), "KP": (None, None)}  # the flat {...} regex misses it
    assert lenient(nested) == {"IF": (4, "json"), "KP": (2, "json")}  # the balanced block holds it
    assert lenient('{"instruction_score": null, "knowledge_score": 3}') == {"IF": (None, "json null"),
                                                                           "KP": (3, "json")}
    # BAGEL reads the first balanced block; one without the keys gives None, not the patterns
    assert lenient('{"note": 1} instruction_score: 4') == {"IF": (None, "json null"), "KP": (None, "json null")}


def test_pooled_aggregation_by_hand():
    def rec(task, missing=(), scorer="bagel", **norm):
        dim, kt = kris.TAXONOMY[task]
        return {"scored": True, "category": task, "dimension": dim, "knowledge_type": kt, "normalised": norm,
                "missing": list(missing), "complete": not missing, "scorer": scorer}

    def records(scorer):
        return [rec("chemistry", VC=100, IF=50, KP=0, VQ=50, scorer=scorer),
                rec("chemistry", ("IF", "KP"), VC=0, VQ=100, scorer=scorer),
                rec("color_change", VC=75, IF=25, VQ=50, scorer=scorer)]

    release = kris.summarize(records("release"), ("color_change", "chemistry"))
    assert release["overall"] == pytest.approx((200 + 100 + 150) / 9)  # pooled, not the mean of image means
    assert release["categories"]["chemistry"] == pytest.approx({"VC": 50, "IF": 50, "KP": 0, "VQ": 75,
                                                                "AVG": 300 / 6, "n_images": 2, "n_values": 6})
    assert release["dimensions"]["Natural Science"]["AVG"] == pytest.approx(50)
    assert release["knowledge_types"]["Factual"]["AVG"] == pytest.approx(50)
    assert list(release["categories"]) == ["color_change", "chemistry"]
    assert release["images"]["dropped_incomplete"] == 0 and release["scorer"] == "release"
    # BAGEL's scripts keep only complete items: the second chemistry image goes, VC and VQ included
    bagel = kris.summarize(records("bagel"), ("color_change", "chemistry"))
    assert bagel["overall"] == pytest.approx((200 + 150) / 7)
    assert bagel["categories"]["chemistry"]["n_images"] == 1
    assert bagel["images"]["dropped_incomplete"] == bagel["images"]["with_missing_scores"] == 1
    assert bagel["aggregations"]["every_present_score"]["overall"] == pytest.approx(release["overall"])
    assert release["aggregations"]["complete_images_only"]["overall"] == pytest.approx(bagel["overall"])
    assert "drop the others" in bagel["overall_definition"]


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
    # BAGEL's copy (default): color_change.1 has no VQ score and is dropped whole; chemistry.2's malformed
    # dual reply still gives IF 3 and KP 1, and its "Consistency score 2" is the named pattern.
    assert res["scorer"] == "bagel"
    assert res["overall"] == pytest.approx(1225 / 20)
    assert res["aggregations"]["every_present_score"]["overall"] == pytest.approx(1300 / 22)
    assert res["categories"]["chemistry"]["AVG"] == pytest.approx(450 / 8)
    assert res["categories"]["chemistry"]["IF"] == 75 and res["categories"]["chemistry"]["KP"] == 37.5
    assert "color_change" not in res["categories"]
    assert res["knowledge_types"]["Factual"]["AVG"] == pytest.approx((250 + 225 + 125) / 9)
    assert res["knowledge_types"]["Procedural"]["AVG"] == pytest.approx(175 / 3)
    assert res["images"] == {"judged": 7, "unscored_no_score": 0, "with_missing_scores": 1,
                             "dropped_incomplete": 1, "with_api_errors": 0}
    assert res["first_digit_fallbacks"] == 0 and res["judge"]["official"] is True
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / "run" / "records.jsonl")}
    assert records["chemistry.2"]["missing"] == [] and records["chemistry.2"]["weight"] == 4
    assert records["chemistry.2"]["parse_rules"] == {"VC": "named", "IF": "named", "KP": "named", "VQ": "json"}
    assert records["color_change.1"]["missing"] == ["VQ"] and records["color_change.1"]["score"] is None
    report = build_report([load_run(tmp_path / "run", "fixture")], baseline="fixture")
    assert not [n for n in report.suites[0].footnotes if "re-aggregate" in n]  # weights reproduce the pooled mean
    assert report.suites[0].rows[0].cells["overall"].value == pytest.approx(61.25)


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


@pytest.mark.parametrize("scorer", ["bagel", "release"])
def test_an_api_error_loses_only_that_score(tmp_path, scorer):
    """Upstream turns a call that fails on every retry into an empty reply: that score is None, the image's
    other scores stand (and BAGEL's aggregation then drops the image, the release's keeps the rest)."""
    data = tmp_path / "data"
    prompts_file = kris_dataset(data)
    folder = tmp_path / "edits"
    for sid, color in list(EDIT_COLORS.items())[:2]:
        category, id_ = sid.rsplit(".", 1)
        (folder / category).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), color).save(folder / category / f"{id_}.png")

    def respond(body, number):
        parts = body["messages"][0]["content"]
        metric = _metric_of(parts[0]["text"])
        colour = _decode([p for p in parts if p["type"] == "image_url"][-1]["image_url"]["url"]).getpixel((4, 4))
        first = min(EDIT_COLORS, key=lambda s: sum((a - b) ** 2 for a, b in zip(colour, EDIT_COLORS[s])))
        if first == "count_change.1" and metric == "VQ":
            return Reply(status=400, body={"error": {"message": "content filter"}})  # fails at once, no retry
        return Reply(body=completion({"VC": '{"consistency_score": 5}', "IF": '{"instruction_score": 3}',
                                      "VQ": '{"quality_score": 4}'}[metric]))

    with chat_server(respond) as server:
        result = run_suite(RunOptions(suite="kris", data_dir=data, prompts_file=prompts_file, images=folder, limit=2,
                                      run_dir=tmp_path / "run", stages=("score", "summarize"), judge="openai",
                                      judge_options={"base_url": server.url, "model": "gpt-4o-2024-11-20",
                                                     "scorer": scorer},
                                      show_progress=False))
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / "run" / "records.jsonl")}
    hit = records["count_change.1"]
    assert hit["scored"] is True and hit["scores"] == {"VC": 5, "IF": 3, "VQ": None}
    assert list(hit["api_errors"]) == ["VQ"] and "HTTP 400" in hit["api_errors"]["VQ"]
    assert hit["judge_stats"]["calls"] == 3
    res = result.summary["results"]
    assert res["images"]["with_api_errors"] == 1 and res["scorer"] == scorer
    if scorer == "bagel":
        assert res["overall"] == pytest.approx((100 + 50 + 75) / 3)  # color_change.1 only
        assert hit["score"] is None
    else:
        assert res["overall"] == pytest.approx((100 + 50 + 100 + 50 + 75) / 5)
        assert hit["score"] == pytest.approx(75)
    assert result.summary["results"]["judge"]["official"] is True


def test_scorer_option_is_checked(tmp_path):
    from uno_bench.errors import UnoError

    suite = load_suite("kris", tmp_path)
    with pytest.raises(UnoError, match="scorer must be bagel or release, not 'official'"):
        suite.load_judge("replay", {"scorer": "official", "recording": str(tmp_path / "r.jsonl")})
