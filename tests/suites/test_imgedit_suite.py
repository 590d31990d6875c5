"""ImgEdit-Bench basic: the official score-line parsing quirks, both overall definitions computed by hand,
the message exactly as basic_bench.py sends it (template, source bytes, edit bytes, all as image/png) through
an OpenAI-compatible endpoint on 127.0.0.1, and the tiny model through the edit path."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from conftest import uno_cmd
from edit_fixtures import IMGEDIT_ITEMS, imgedit_dataset, single_thread
from judge_fixtures import Reply, chat_server, completion, user_text
from PIL import Image

from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.records import read_lines
from uno_bench.suites import imgedit
from uno_bench.suites.registry import load_suite

REPLIES = {
    "1": "Brief reasoning: ok\nPrompt Compliance: 4\nVisual Naturalness: 3\nPhysical & Detail Coherence: 3",
    "2": "Brief reasoning: 2\n**Prompt Compliance**: 5\nVisual Naturalness: 4/5\nPhysical & Detail Coherence: 4",
    "3": "Brief reasoning: fine.\nStyle Fidelity: 5\nContent Preservation: 5\nRendering Quality: 4",
    "4": "I'm sorry, I can't help with that.",
    "5": "Prompt Compliance: 2\nVisual Naturalness: 2\nPhysical & Detail Integrity: 1",
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))


def test_score_lines_as_step1_reads_them():
    parse = imgedit.parse_reply
    assert parse(REPLIES["1"]) == ([("Prompt Compliance", 4), ("Visual Naturalness", 3),
                                    ("Physical & Detail Coherence", 3)], [])
    assert [v for _, v in parse(REPLIES["2"])[0]] == [2, 5, 4]  # "Brief reasoning: 2" counts, "4/5" does not
    assert parse("A: 3.5\nB: 4 \nC:5")[0] == [("B", 4)]
    assert parse("Key: ４")[0] == [("Key", 4)]  # full-width digits count, as str.isdigit() says
    scores, notes = parse("Key: ²\nOther: 3")
    assert scores == [("Other", 3)] and "upstream would crash" in notes[0]
    assert parse(None) == ([], [])
    assert imgedit.item_score([4, 3, 3]) == 3.33 and imgedit.item_score([2, 5, 4]) == 3.67


def test_both_overall_definitions_by_hand():
    def rec(t, s):
        return {"scored": True, "category": t, "score": s}

    out = imgedit.summarize([rec("add", 2.83), rec("add", 2.84), rec("style", 4.0), rec("style", 5.0),
                             rec("style", 4.67), {"scored": False, "unscored_reason": "judge failed: no score line"}],
                            ("add", "style", "remove"))
    assert out["categories"]["add"] == {"score": pytest.approx(2.835), "official": 2.83, "n": 2}  # rounded twice
    assert out["overall"] == out["overall_macro"] == pytest.approx((2.835 + 13.67 / 3) / 2)
    assert out["overall_micro"] == pytest.approx((2.83 + 2.84 + 4 + 5 + 4.67) / 5)
    assert out["official_rounded"]["overall_macro"] == round((2.83 + round(13.67 / 3, 2)) / 2, 2)
    assert out["types_present"] == 2 and out["images"] == {"judged": 5, "no_score_line": 1}


def _edit_folder(tmp_path):
    folder = tmp_path / "edits"
    folder.mkdir()
    for i, key in enumerate(IMGEDIT_ITEMS):
        Image.new("RGB", (20 + i, 20), (i * 40, 255 - i * 40, 90)).save(folder / f"{key}.png")
    return folder


def test_official_message_and_aggregation_through_the_cli(tmp_path, shared_suites, uno_env):
    data = tmp_path / "data"
    prompts_file = imgedit_dataset(data, shared_suites)
    folder = _edit_folder(tmp_path)
    templates = json.loads((shared_suites / "imgedit/Basic/prompts.json").read_text())

    def respond(body, number):
        parts = body["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
        key = next(k for k, (_, _, prompt, _) in IMGEDIT_ITEMS.items() if prompt in user_text(body))
        src, edit_type, prompt, _ = IMGEDIT_ITEMS[key]
        assert user_text(body) == templates[edit_type].replace("<edit_prompt>", prompt)
        sent = [p["image_url"]["url"] for p in parts[1:]]
        assert all(u.startswith("data:image/png;base64,") for u in sent)  # even for the JPEG sources
        assert base64.b64decode(sent[0].split(",", 1)[1]) == (data / "imgedit/singleturn" / src).read_bytes()
        assert base64.b64decode(sent[1].split(",", 1)[1]) == (folder / f"{key}.png").read_bytes()
        assert body["model"] == "gpt-4o-2024-11-20"
        return Reply(body=completion(REPLIES[key]))

    with chat_server(respond) as server:
        args = ["score", "imgedit", "--images", str(folder), "--data-dir", str(data), "--prompts-file",
                str(prompts_file), "--run-dir", str(tmp_path / "run"), "--judge", "openai",
                "--judge-option", f"base_url={server.url}", "--judge-option", "model=gpt-4o-2024-11-20"]
        done = subprocess.run(uno_cmd(*args), env=uno_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1 and "1 image(s) unscored" in done.stderr, done.stderr[-3000:]  # one image unscored: a partial result (docs/faults.md)
        assert server.calls == 5
    assert "coverage 4/5 images scored" in done.stdout and "no score line in 1 judge reply" in done.stdout
    res = json.loads((tmp_path / "run" / "summary.json").read_text())["results"]
    add, style, remove = (3.33 + 3.67) / 2, 4.67, 1.67
    assert res["categories"]["add"]["score"] == pytest.approx(add) and res["categories"]["remove"]["n"] == 1
    assert res["overall_macro"] == pytest.approx((add + style + remove) / 3)
    assert res["overall_micro"] == pytest.approx((3.33 + 3.67 + 4.67 + 1.67) / 4)
    assert res["official_rounded"]["types"] == {"add": 3.5, "style": 4.67, "remove": 1.67}
    assert res["judge"] == {"models": ["gpt-4o-2024-11-20"], "official": True}
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / "run" / "records.jsonl")}
    assert records["2"]["criteria"] == [["Brief reasoning", 2], ["**Prompt Compliance**", 5],
                                        ["Physical & Detail Coherence", 4]]
    assert records["4"]["scored"] is False and records["4"]["replies"] == [REPLIES["4"]]
    from uno_bench.report import build_report, load_run

    report = build_report([load_run(tmp_path / "run", "fixture")], baseline="fixture")
    assert not [n for n in report.suites[0].footnotes if "re-aggregate" in n]  # item scores -> the macro overall


def test_tiny_model_edits_and_a_non_official_judge(tmp_path, shared_suites, tiny_ckpt):
    data = tmp_path / "data"
    prompts_file = imgedit_dataset(data, shared_suites)
    suite = load_suite("imgedit", data)
    samples = suite.load_samples(prompts_file)
    assert [s.id for s in samples] == list(IMGEDIT_ITEMS) and samples[2].category == "style"
    assert samples[0].metadata["source_sha256"]
    with chat_server(lambda body, n: Reply(body=completion("A: 4\nB: 4\nC: 3"))) as server, single_thread():
        result = run_suite(RunOptions(suite="imgedit", ckpt=str(tiny_ckpt), data_dir=data, prompts_file=prompts_file,
                                      run_dir=tmp_path / "run", sampler={"num_timesteps": 3}, batch_size=5,
                                      judge="openai", judge_options={"base_url": server.url, "model": "qwen-vl-local"},
                                      show_progress=False))
    assert result.generate.written == 5 and server.calls == 5
    assert sorted(p.name for p in (tmp_path / "run" / "images").iterdir()) == [f"{k}.png" for k in "12345"]
    res = result.summary["results"]
    assert res["overall_macro"] == pytest.approx(3.67) and res["overall_micro"] == pytest.approx(3.67)
    assert res["judge"]["official"] is False and "not an ImgEdit judge" in res["judge"]["note"]
