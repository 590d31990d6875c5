"""GenEval 2: official data and variant lists, Soft-TIFA aggregation by hand, and the suite end to end
on a tiny random BAGEL with the hf judge (tiny random Qwen3-VL), its replay, the judge cache, and an
OpenAI-compatible endpoint on 127.0.0.1 with first-token logprobs."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from judge_fixtures import Reply, chat_server, completion, make_tiny_vlm, user_text

from uno_bench.errors import UnoError
from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.records import read_lines
from uno_bench.suites import geneval2
from uno_bench.suites.registry import load_suite

SMALL = {"width": 32, "height": 32, "num_timesteps": 2}


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    return make_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))


def test_official_data_and_variant_lists(shared_suites):
    suite = load_suite("geneval-2", shared_suites)
    samples = suite.load_samples()
    assert len(samples) == 800 and samples[0].id == "000" and samples[-1].id == "799"
    assert Counter(s.category for s in samples) == {str(n): 100 for n in range(3, 11)}
    skills = Counter(k for s in samples for k in s.metadata["skills"])
    assert skills == {"object": 2025, "count": 2025, "attribute": 1214, "position": 662, "verb": 86}
    assert suite.image_relpath(samples[7], 0) == "007_0.png"
    assert geneval2.answer_variants("Yes") == ("Yes", "yes", " yes", " Yes")
    assert geneval2.answer_variants("four") == ("four", "Four", " four", " Four", "4", " 4")
    assert geneval2.answer_variants("ten")[4:] == ("10", " 10")
    assert geneval2.answer_variants("eleven")[4:] == ("other", " other")
    with pytest.raises(UnoError, match="methods are soft_tifa, vqascore"):
        suite.load_judge("hf", {"methods": "soft_tifa_gm", "model": "x"})


def _record(pid, atoms, skills, tifa, atom_count, scored=True):
    ps = list(atoms)
    return {"key": f"{pid}/0", "prompt_id": pid, "sample_index": 0, "scored": scored, "atom_count": atom_count,
            "atoms": [{"p": p, "skill": k, "tifa": t} for p, k, t in zip(ps, skills, tifa)],
            "soft_tifa_gm": geneval2.gmean(ps), "soft_tifa_am": geneval2.amean(ps),
            "tifa": geneval2.amean([float(t) for t in tifa])} if scored else \
        {"key": f"{pid}/0", "prompt_id": pid, "sample_index": 0, "scored": False, "atom_count": atom_count}


def test_aggregation_by_hand():
    records = [
        _record("000", [0.5, 0.8, 1.0], ["count", "attribute", "object"], [True, False, True], 3),
        _record("001", [0.0, 0.9], ["object", "position"], [False, True], 4),  # a zero sends GM to 0
        _record("002", [], [], [], 5, scored=False),
    ]
    out = geneval2.summarize(records)
    gm0 = 0.4 ** (1 / 3)  # 0.736806...
    assert out["soft_tifa_gm"] == pytest.approx(100 * gm0 / 2) == out["overall"]
    assert out["soft_tifa_am"] == pytest.approx(100 * (2.3 / 3 + 0.45) / 2)
    assert out["tifa"] == pytest.approx(100 * (2 / 3 + 0.5) / 2)
    assert {k: v["soft_tifa_am"] for k, v in out["skills"].items()} == pytest.approx(
        {"object": 50.0, "attribute": 80.0, "count": 50.0, "position": 90.0})
    assert out["atomicity"]["3"]["soft_tifa_gm"] == pytest.approx(100 * gm0)
    assert out["atomicity"]["4"]["soft_tifa_gm"] == 0.0
    assert out["prompts"] == {"expected": 3, "scored": 2, "complete": False}
    assert out["protocol"] == "official: one image per prompt"


def test_end_to_end_openai_logprobs_with_the_official_double_counting(tiny_ckpt, tiny_vlm, shared_suites, tmp_path):
    top = {"count": {"one": 0.5, " ": 0.15, "1": 0.2, "two": 0.1},
           "vqascore": {"Yes": 0.3, "No": 0.6, " ": 0.05},
           "yes": {"Yes": 0.6, "yes": 0.1, " ": 0.05, "No": 0.2}}

    def respond(body, n):
        text = user_text(body)
        kind = "count" if text.startswith("How many") else "vqascore" if text.startswith("Does this") else "yes"
        return Reply(body=completion("x", {t: math.log(p) for t, p in top[kind].items()}))

    with chat_server(respond) as server:
        options = {"base_url": server.url, "model": "Qwen/Qwen3-VL-8B-Instruct", "tokenizer": str(tiny_vlm),
                   "methods": "soft_tifa,vqascore", "backoff": "0.01"}
        first = run_suite(RunOptions(suite="geneval2", ckpt=str(tiny_ckpt), data_dir=shared_suites, limit=2,
                                     sampler=SMALL, out=tmp_path / "runs", judge="openai", judge_options=options,
                                     show_progress=False))
        calls = server.calls
        assert calls == 5 + 3 + 2  # soft-TIFA questions of both prompts + one VQAScore query each
        # The same images scored again in another run dir: every answer comes from the cache.
        again = run_suite(RunOptions(suite="geneval2", data_dir=shared_suites, limit=2, out=tmp_path / "again",
                                     images=first.run_dir / "images", judge="openai", judge_options=options,
                                     stages=("score", "summarize"), show_progress=False))
        assert server.calls == calls
    # Prompt 0 "a green backpack and a pig": one (count), Yes, Yes, one (count), Yes.
    # "one": one .5 + One [UNK] 0 + " one", " One", " 1" share the first token " " (3 x .15) + "1" .2 = 1.15
    # "Yes": Yes .6 + yes .1 + " yes", " Yes" -> " " (2 x .05) = .8.  Prompt 1 "seven green croissants":
    # "seven": only the three leading-space variants score (3 x .15 = .45), then Yes, Yes.
    p0, p1 = [1.15, 0.8, 0.8, 1.15, 0.8], [0.45, 0.8, 0.8]
    gm = [math.prod(p0) ** (1 / 5), math.prod(p1) ** (1 / 3)]
    results = first.summary["results"]
    assert results["soft_tifa_gm"] == pytest.approx(100 * sum(gm) / 2)
    assert results["soft_tifa_am"] == pytest.approx(100 * (sum(p0) / 5 + sum(p1) / 3) / 2)
    assert results["tifa"] == pytest.approx(100 * (1 + 2 / 3) / 2)  # "seven": the top token "one" is wrong
    assert results["vqascore"] == pytest.approx(40.0)  # Yes .3 + " yes"/" Yes" 2 x .05
    assert results["skills"]["count"]["soft_tifa_am"] == pytest.approx(100 * (1.15 + 1.15 + 0.45) / 3)
    assert results["atomicity"]["3"]["soft_tifa_gm"] == pytest.approx(100 * sum(gm) / 2)
    assert results["judge"]["official"] is False and "not GenEval 2's official judge" in results["judge"]["note"]
    assert again.summary["results"]["soft_tifa_gm"] == results["soft_tifa_gm"]
    assert again.summary["results"]["judge_stats"]["calls"] == 0
    assert first.summary["coverage"]["scored"] == 2


def test_end_to_end_hf_judge_cache_and_replay(tiny_ckpt, tiny_vlm, shared_suites, tmp_path):
    hf = {"model": str(tiny_vlm), "dtype": "float32", "device": "cpu"}
    base = {"suite": "geneval2", "data_dir": shared_suites, "limit": 3, "show_progress": False}
    first = run_suite(RunOptions(**base, ckpt=str(tiny_ckpt), sampler=SMALL, out=tmp_path / "a", judge="hf",
                                 judge_options=hf))
    results = first.summary["results"]
    assert first.summary["coverage"]["scored"] == 3 and results["prompts"]["complete"]
    records = read_lines(first.run_dir / "records.jsonl")
    for r in records:
        ps = [a["p"] for a in r["atoms"]]
        assert r["soft_tifa_gm"] == pytest.approx(geneval2.gmean(ps)) and r["score"] == r["soft_tifa_gm"]
        for atom in r["atoms"]:
            assert atom["p"] == pytest.approx(sum(atom["variant_probs"]))
            if atom["expected"] != "Yes":  # " four", " Four" and " 4" share the token " "
                assert atom["variant_probs"][2] == atom["variant_probs"][3] == atom["variant_probs"][5]
    assert sum(r["judge_stats"]["calls"] for r in records) == sum(len(r["atoms"]) for r in records)
    images = first.run_dir / "images"
    # Same images, fresh run dir: no model call (the judge cache answers); then record and replay.
    cached = run_suite(RunOptions(**base, images=images, out=tmp_path / "b", judge="hf", judge_options=hf,
                                  stages=("score", "summarize")))
    assert cached.summary["results"]["judge_stats"]["calls"] == 0
    assert cached.summary["results"]["soft_tifa_gm"] == results["soft_tifa_gm"]
    recording = tmp_path / "hf.jsonl"
    run_suite(RunOptions(**base, images=images, out=tmp_path / "c", judge="hf",
                         judge_options={**hf, "record": str(recording)}, stages=("score", "summarize")))
    replayed = run_suite(RunOptions(**base, images=images, out=tmp_path / "d", judge="replay",
                                    judge_options={"recording": str(recording)}, stages=("score", "summarize")))
    for key in ("soft_tifa_gm", "soft_tifa_am", "tifa", "skills", "atomicity"):
        assert replayed.summary["results"][key] == results[key]
    assert replayed.summary["results"]["judge"]["official"] is False
