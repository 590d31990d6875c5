"""GEdit-Bench: VIEScore's prompts and reply parser, the official layout, and scoring end to end against an
OpenAI-compatible endpoint on 127.0.0.1 (retry of both calls, unparseable replies unscored and counted,
never random), both subsets aggregated by hand; the tiny model through the edit path, recorded and replayed."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
import threading

import pytest
from conftest import uno_cmd
from edit_fixtures import GEDIT_ROWS, encoded, gedit_dataset, single_thread
from judge_fixtures import Reply, chat_server, completion, user_text
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.plan import make_plan
from uno_bench.runs.records import read_lines
from uno_bench.suites import gedit, viescore
from uno_bench.suites.registry import load_suite

KEY = "sk-gedit-SECRET-5d1e"
EN = [r for r in GEDIT_ROWS if r[2] == "en"]
EDIT_COLORS = [(250, 250, 250), (10, 10, 10), (120, 60, 0), (0, 120, 120)]  # the edits, one per EN row


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))


def test_viescore_prompts_and_parser():
    sc = viescore.sc_prompt("Make the car blue")
    assert sc.startswith("You are a professional digital artist.") and sc.count("Make the car blue") == 1
    assert "The first being the original AI-generated image and the second being an edited version" in sc
    assert "output score = [score1, score2]" in sc and sc.endswith("Editing instruction: Make the car blue\n")
    assert viescore.PQ_PROMPT.endswith("output score = [naturalness, artifacts]\n")
    assert "two images" not in viescore.PQ_PROMPT.lower()
    parse = viescore.parse_reply
    assert parse('x ||V^=^V|| {"score": [3, 4], "reasoning": "a"} ||V^=^V|| y')["score"] == [3, 4]
    assert parse('Sure.\n{\n"score" : [7, 2],\n"reasoning" : "fine"\n}\nDone')["score"] == [7, 2]
    assert parse('{"score": 6, "reasoning": "scalar"}')["score"] == [6]
    assert parse("[5, 9]") == {"score": [5, 9], "reasoning": None, "parsed_as": "bare list"}
    assert parse(" 8 ")["score"] == [8] and parse("11") == "no JSON object in the reply"
    assert parse("{score: 9, reasoning: fine}") == {"score": [9], "reasoning": "fine", "parsed_as": "repaired json"}
    assert parse("I cannot judge this.") == "no JSON object in the reply"
    assert parse('{"reasoning": "no scores"}') == "no 'score' in the JSON"
    assert parse("{'score': [1, 2]}") == "invalid JSON (repair failed)"
    assert parse(None) == "empty reply"
    assert viescore.scores_of(parse('{"score": [8, 12.5]}')) == [8.0, 12.5]  # not clamped, as upstream
    assert viescore.scores_of(parse('{"score": []}')) == "'score' is not a non-empty list"
    assert viescore.scores_of(parse('{"score": [true, 3]}')).startswith("'score' holds")


def test_samples_layout_and_languages(tmp_path):
    data = tmp_path / "data"
    gedit_dataset(data)
    en, cn = load_suite("gedit", data), load_suite("gedit-cn", data)
    samples = en.load_samples()
    assert [s.id for s in samples] == [r[1] for r in EN] and [s.prompt for s in samples] == [r[4] for r in EN]
    assert en.image_relpath(samples[0], 0) == f"fullset/background_change/en/{EN[0][1]}.png"
    assert [s.metadata["intersection"] for s in samples] == [True, False, True, False]
    cn_samples = cn.load_samples()
    assert [s.prompt for s in cn_samples] == ["把天空换成夜晚", "把车改成蓝色"]
    assert cn.image_relpath(cn_samples[1], 0).startswith("fullset/color_alter/cn/")
    [source] = en.source_images(samples[3])
    assert source.size == (24, 16) and source.mode == "RGB"  # the JPEG source, decoded
    assert en.data_status("dataset").state == "verified"
    rows = data / "gedit_bench" / "rows.jsonl"
    rows.write_text(rows.read_text().replace("Make the car blue", "Make the car red"))
    with pytest.raises(Exception, match="sha256 differs"):
        load_suite("gedit", data).load_samples()


def test_prompts_file_is_read_by_name(tmp_path):
    """--prompts-file names the rows file itself: a subset beside rows.jsonl loads only its own rows,
    and a folder without rows.jsonl works (images are found relative to the file)."""
    data = tmp_path / "data"
    folder = gedit_dataset(data)
    lines = (folder / "rows.jsonl").read_text().splitlines()
    en_lines = [line for line in lines if json.loads(line)["instruction_language"] == "en"]
    subset = folder / "subset.jsonl"
    subset.write_text(en_lines[1] + "\n")
    suite = load_suite("gedit", data)
    assert [s.id for s in suite.load_samples(subset)] == [EN[1][1]]

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(folder / "images", elsewhere / "images", dirs_exist_ok=True)
    mine = elsewhere / "mine.jsonl"
    mine.write_text("\n".join(en_lines[2:]) + "\n")
    other = load_suite("gedit", tmp_path / "no-data")
    samples = other.load_samples(mine)
    assert [s.id for s in samples] == [r[1] for r in EN[2:]]
    [source] = other.source_images(samples[0])
    assert source.mode == "RGB"
    with pytest.raises(UnoError, match="does not exist"):
        make_plan(other, prompts_file=elsewhere / "missing.jsonl")
    assert len(make_plan(other, prompts_file=mine).samples) == 2


def test_aggregation_by_hand():
    def rec(task, inter, sc, pq):
        return {"scored": True, "category": task, "intersection": inter, "SC": sc, "PQ": pq, "O": math.sqrt(sc * pq)}

    records = [rec("a", True, 8, 2), rec("a", False, 4, 4), rec("b", False, 9, 9),
               {"scored": False, "category": "b", "unscored_reason": "judge failed: no parseable SC and PQ replies"}]
    out = gedit.summarize(records, "en", ("a", "b"))
    assert out["full_set"]["tasks"]["a"] == {"SC": 6.0, "PQ": 3.0, "O": 4.0, "n": 2}
    assert out["overall"] == out["full_set"]["average"]["O"] == pytest.approx((4.0 + 9.0) / 2)  # macro over tasks
    assert out["intersection"]["average"]["O"] == 4.0 and out["intersection"]["tasks_present"] == 1
    assert out["headline"]["EN G_SC"] == pytest.approx((6 + 9) / 2) and out["images"]["unparseable"] == 1


def _folder_of_edits(tmp_path, data):
    """A folder in the official layout made by 'another tool': edits 40x30 in EDIT_COLORS, sources as
    <key>_SRCIMG.png, except for the third row (its source then comes from the dataset)."""
    folder = tmp_path / "edits"
    for i, (task, key, lang, _, _, color) in enumerate(EN):
        sub = folder / "fullset" / task / lang
        sub.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), EDIT_COLORS[i]).save(sub / f"{key}.png")
        if i != 2:
            Image.open(io.BytesIO(encoded(color))).save(sub / f"{key}_SRCIMG.png")
    return folder


def _images(body):
    parts = body["messages"][0]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls)
    return [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))).convert("RGB") for u in urls]


def _nearest(color, palette):
    return min(range(len(palette)), key=lambda i: sum((a - b) ** 2 for a, b in zip(color, palette[i])))


def test_scoring_against_the_loopback_endpoint_through_the_cli(tmp_path, uno_env):
    data = tmp_path / "data"
    gedit_dataset(data)
    folder = _folder_of_edits(tmp_path, data)
    sc_replies = {  # per EN row: replies to SC at attempt 0, 1
        0: ['{\n"score" : [8, 6],\n"reasoning" : "ok"\n}'],
        1: ["I cannot evaluate this.", "[5, 9]"],
        2: ["{score: 9, reasoning: fine}"],
        3: ["no idea", "still no idea"],
    }
    pq_replies = {0: ['||V^=^V||{"score": [9, 7], "reasoning": "x"}||V^=^V||'],
                  1: ['{"score": [6, 8], "reasoning": "discarded"}', '{"score": [7, 8], "reasoning": "kept"}'],
                  2: ["8"], 3: ['{"score": [5, 5]}', '{"score": [5, 5]}']}
    seen: dict[tuple[str, int], int] = {}
    lock = threading.Lock()

    def respond(body, number):
        text, images = user_text(body), _images(body)
        parts = body["messages"][0]["content"]
        assert parts[0]["type"] == "text" and body["max_tokens"] == 1400 and "temperature" not in body
        assert body["model"] == "gpt-4.1-2025-04-14"
        row = _nearest(images[-1].getpixel((5, 5)), EDIT_COLORS)
        assert images[-1].size == (24, 16)  # the edit, resized to the source's size
        kind = "SC" if text.startswith(viescore.CONTEXT + "\n" + viescore.TWO_IMAGE_EDIT_RULE) else "PQ"
        if kind == "SC":
            assert len(images) == 2 and EN[row][4] in text
            assert _nearest(images[0].getpixel((5, 5)), [r[5] for r in EN]) == row  # the source first
        else:
            assert len(images) == 1 and text == viescore.PQ_PROMPT
        with lock:
            attempt = seen.get((kind, row), 0)
            seen[(kind, row)] = attempt + 1
        replies = (sc_replies if kind == "SC" else pq_replies)[row]
        return Reply(body=completion(replies[attempt]))

    env = {**uno_env, "UNO_TEST_KEY": KEY, "UNO_JUDGE_CACHE": str(tmp_path / "cache.sqlite")}
    with chat_server(respond) as server:
        def score(run_dir):
            args = ["score", "gedit", "--images", str(folder), "--data-dir", str(data), "--run-dir", str(run_dir),
                    "--judge", "gpt-4.1-2025-04-14"]
            for option in (f"base_url={server.url}", "api_key_env=UNO_TEST_KEY", "concurrency=2"):
                args += ["--judge-option", option]
            return subprocess.run(uno_cmd(*args), env=env, capture_output=True, text=True, timeout=300)

        first = score(tmp_path / "run1")
        assert first.returncode == 1 and "1 image(s) unscored" in first.stderr, first.stderr[-3000:]  # one image unscored: a partial result (docs/faults.md)
        assert server.calls == 2 + 4 + 2 + 4
        assert all(s.headers["Authorization"] == f"Bearer {KEY}" for s in server.requests)
        second = score(tmp_path / "run2")
        assert second.returncode == 1 and server.calls == 12  # every reply came from the judge cache
    assert "coverage 3/4 images scored" in first.stdout
    assert "unscored x1: judge failed: no parseable SC and PQ replies in 2 attempt(s)" in first.stdout
    res = json.loads((tmp_path / "run1" / "summary.json").read_text())["results"]
    o0, o1, o2 = math.sqrt(6 * 7), math.sqrt(5 * 7), math.sqrt(9 * 8)
    full = res["full_set"]
    assert full["tasks"]["background_change"] == pytest.approx({"SC": 5.5, "PQ": 7.0, "O": (o0 + o1) / 2, "n": 2})
    assert full["tasks"]["color_alter"] == pytest.approx({"SC": 9.0, "PQ": 8.0, "O": o2, "n": 1})
    assert res["overall"] == pytest.approx(((o0 + o1) / 2 + o2) / 2)
    assert res["intersection"]["average"]["O"] == pytest.approx((o0 + o2) / 2)
    assert res["intersection"]["tasks"]["background_change"]["n"] == 1
    assert res["images"] == {"judged": 3, "unparseable": 1, "official_would_guess": 1, "guessed": 0,
                             "source_from_dataset": 1}
    assert res["judge"] == {"models": ["gpt-4.1-2025-04-14"], "official": True}
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / "run1" / "records.jsonl")}
    assert records[EN[1][1]]["parse_failures"] == ["attempt 0: SC: no JSON object in the reply"]
    assert records[EN[1][1]]["replies"]["PQ"] == '{"score": [7, 8], "reasoning": "kept"}'
    assert records[EN[3][1]]["scored"] is False and len(records[EN[3][1]]["replies"]) == 4
    assert records[EN[2][1]]["source_from"].startswith("dataset")
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["results"]["overall"] == res["overall"]
    from uno_bench.report import build_report, load_run

    report = build_report([load_run(tmp_path / "run1", "fixture")], baseline="fixture")
    assert not [n for n in report.suites[0].footnotes if "re-aggregate" in n]  # per-image O -> the official Average
    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        assert KEY.encode() not in path.read_bytes(), path


def test_tiny_model_end_to_end_then_replayed(tmp_path, tiny_ckpt):
    data = tmp_path / "data"
    gedit_dataset(data)
    reply = completion('{"score": [6, 4], "reasoning": "r"}')
    recording = tmp_path / "gedit.rec.jsonl"
    with chat_server(lambda body, n: Reply(body=reply)) as server, single_thread():
        opts = RunOptions(suite="gedit", ckpt=str(tiny_ckpt), data_dir=data, run_dir=tmp_path / "run",
                          sampler={"num_timesteps": 4}, batch_size=2, judge="openai", show_progress=False,
                          judge_options={"base_url": server.url, "model": "gpt-4.1-2025-04-14",
                                         "record": str(recording)})
        result = run_suite(opts)
        assert server.calls == 8
    assert result.generate.written == 4 and not result.generate.failed
    images = tmp_path / "run" / "images" / "fullset"
    for task, key, lang, *_ in EN:
        assert (images / task / lang / f"{key}.png").is_file() and (images / task / lang / f"{key}_SRCIMG.png").is_file()
    edited = Image.open(images / EN[0][0] / "en" / f"{EN[0][1]}.png")
    assert edited.size == (64, 44)  # 24x16 resized by GEdit's rule, capped at the tiny model's 64 px
    assert result.summary["results"]["overall"] == pytest.approx(4.0)
    replay = run_suite(RunOptions(suite="gedit", data_dir=data, images=tmp_path / "run" / "images",
                                  run_dir=tmp_path / "replayed", judge="replay",
                                  judge_options={"recording": str(recording)}, stages=("score", "summarize"),
                                  show_progress=False))
    assert replay.summary["results"]["full_set"] == result.summary["results"]["full_set"]
    assert replay.summary["results"]["judge"]["official"] is True  # judged by the recorded gpt-4.1 model


def _score_with_replies(tmp_path, name, sc_replies, pq_replies, options=()):
    """Score the fixture folder in-process against a loopback judge answering per (call, row, attempt)."""
    data = tmp_path / "data"
    if not data.exists():
        gedit_dataset(data)
        _folder_of_edits(tmp_path, data)
    seen: dict[tuple[str, int], int] = {}
    lock = threading.Lock()

    def respond(body, number):
        text, images = user_text(body), _images(body)
        row = _nearest(images[-1].getpixel((5, 5)), EDIT_COLORS)
        kind = "SC" if text.startswith(viescore.CONTEXT + "\n" + viescore.TWO_IMAGE_EDIT_RULE) else "PQ"
        with lock:
            attempt = seen.get((kind, row), 0)
            seen[(kind, row)] = attempt + 1
        replies = (sc_replies if kind == "SC" else pq_replies)[row]
        return Reply(body=completion(replies[min(attempt, len(replies) - 1)]))

    with chat_server(respond) as server:
        result = run_suite(RunOptions(
            suite="gedit", data_dir=data, images=tmp_path / "edits", run_dir=tmp_path / name,
            stages=("score", "summarize"), judge="gpt-4.1-2025-04-14", show_progress=False,
            judge_options={"base_url": server.url, "api_key_env": "UNO_TEST_KEY", **dict(options)}))
    records = {r["prompt_id"]: r for r in read_lines(tmp_path / name / "records.jsonl")}
    return result.summary, [records[r[1]] for r in EN]


GUESS_SC = {0: ["no idea", "still no idea"], 1: ['{"score": [8, 6]}'], 2: ["no idea", "[5, 9]"],
            3: ['{"reasoning": "no scores"}']}
GUESS_PQ = {0: ['{"score": [5, 5]}'], 1: ["[7, 9]"], 2: ['{"score": [6, 8]}'], 3: ['{"score": [6, 8]}']}


def test_unparseable_images_are_unscored_and_counted_as_official_guesses(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_TEST_KEY", KEY)
    summary, (r0, r1, r2, r3) = _score_with_replies(tmp_path, "default", GUESS_SC, GUESS_PQ)
    assert not r0["scored"] and r0["official_would_guess"] is True  # no "{": upstream would draw randint(0, 10)
    assert not r3["scored"] and r3["official_would_guess"] is False  # "{...}" without a score: asked again
    assert r1["SC"] == 6 and r1["PQ"] == 7  # a bare list on the first try is read
    assert r2["sc_scores"] == [5, 9]  # read here; upstream would have guessed it (give-up try)
    res = summary["results"]
    assert res["images"]["unparseable"] == 2 and res["images"]["official_would_guess"] == 1
    assert res["images"]["guessed"] == 0
    assert "would have filled 1 of them with random.randint(0, 10)" in res["overall_definition"]
    assert res["headline"]["random guesses"].startswith("none; 1 image(s)")


def test_guess_seed_reproduces_the_official_random_guess(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_TEST_KEY", KEY)
    summary, (r0, r1, r2, r3) = _score_with_replies(tmp_path, "guess", GUESS_SC, GUESS_PQ, {"guess_seed": "7"})
    assert r0["scored"] and set(r0["guessed"]) == {"SC"} and 0 <= r0["guessed"]["SC"] <= 10
    assert r0["sc_scores"] == [r0["guessed"]["SC"]] and r0["PQ"] == 5
    assert r2["scored"] and set(r2["guessed"]) == {"SC"}  # the bare list on the give-up try is guessed
    assert r1["guessed"] == {} and r1["SC"] == 6  # nothing to guess on a first try
    assert not r3["scored"]  # a reply with "{...}" is never guessed
    res = summary["results"]
    assert res["images"]["guessed"] == 2 and res["images"]["unparseable"] == 1
    assert "seeded random 0-10 guess (2 image(s)" in res["overall_definition"]
    scoring = json.loads((tmp_path / "guess" / "manifest.json").read_text())["scoring"]
    assert scoring["identity"]["protocol"]["guess_seed"] == 7  # labelled in the manifest
    again, (a0, _, a2, _) = _score_with_replies(tmp_path, "guess-again", GUESS_SC, GUESS_PQ, {"guess_seed": "7"})
    assert (a0["guessed"], a2["guessed"]) == (r0["guessed"], r2["guessed"])  # seeded: the same guesses
    assert again["results"]["overall"] == summary["results"]["overall"]
