"""DPG-Bench: the official loader's quirks on a fixture CSV, grids at the exact crop size, official and
fixed aggregation computed by hand, end to end with an OpenAI-compatible endpoint on 127.0.0.1 that
looks at each tile, its replay, the judge cache, and a tiny random transformers VLM."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from judge_fixtures import Reply, chat_server, completion, make_tiny_vlm, user_text
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.runs.pipeline import RunOptions, run_suite
from uno_bench.runs.records import read_lines
from uno_bench.suites import dpg
from uno_bench.suites.registry import load_suite

FIXTURE = Path(__file__).parent / "fixtures" / "dpg_questions.csv"
TILE_COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
ITEMS = ["partiprompts97", "0", "1", "2", "3"]
NO = {("Are there cabbages?", 1), ("Is there a field?", 2), ("Are the cabbages green?", 3),
      ("Is there a truck?", 1), ("Is the truck red?", 3), ("Is the apple red?", 0)}
R = 32


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_JUDGE_CACHE", str(tmp_path / "judge_cache.sqlite"))


@pytest.fixture()
def tiles(tmp_path) -> Path:
    """A folder of generated tiles, tile j painted TILE_COLORS[j] (the `folder` model reads it)."""
    for item in ITEMS:
        for j, color in enumerate(TILE_COLORS):
            path = tmp_path / "tiles_src" / "tiles" / item / f"{j}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (R, R), color).save(path)
    return tmp_path / "tiles_src"


def _tile_of(body) -> int:
    part = next(p for p in body["messages"][0]["content"] if p["type"] == "image_url")
    image = Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))).convert("RGB")
    return TILE_COLORS.index(image.getpixel((image.width // 2, image.height // 2)))


def respond(body, n):
    question = user_text(body).removesuffix(dpg.VLM_SUFFIX)
    if question == "Are there three bananas?":
        return Reply(body=completion("Yes."))  # normalised to "yes" for a non-official VQA judge
    return Reply(body=completion("no" if (question, _tile_of(body)) in NO else "yes"))


def test_loader_reads_the_official_format(shared_suites, tmp_path):
    suite = load_suite("dpg", shared_suites)
    samples = suite.load_samples(FIXTURE)
    assert [s.id for s in samples] == ITEMS
    assert samples[1].prompt.startswith("An expansive field") and samples[1].metadata["prompt_source"] == "index"
    rows = {s.id: [dpg.Row(**r) for r in s.metadata["rows"]] for s in samples}
    assert rows["0"][3].parents == (1, 3) and rows["0"][3].dependency == "1,3"
    assert [r.run for r in rows["2"]] == [0, 0, 1]
    assert list(dpg.official_set(rows["partiprompts97"])) == [2, 3]  # the first CSV row is skipped
    assert list(dpg.official_set(rows["2"])) == [3]  # only the last contiguous run
    assert list(dpg.fixed_set(rows["2"])) == [1, 2, 3]
    broken = tmp_path / "broken_dpg.csv"
    broken.write_text(FIXTURE.read_text().replace('"1,3"', '"1;3"'))
    with pytest.raises(UnoError, match="dependency must be integers"):
        suite.load_samples(broken)


def test_official_zeroing_quirks_by_hand():
    def row(pid, parents, n):
        return dpg.Row(n, pid, parents, ",".join(map(str, parents)), "entity - whole (x)", f"q{pid}", 0)

    # Rows out of id order: the child (3, parent 2) is walked before its parent (2, parent 1) is zeroed.
    questions = {3: row(3, (2,), 1), 1: row(1, (0,), 2), 2: row(2, (1,), 3)}
    assert dpg.official_tile(questions, {1: False, 2: True, 3: True}) == (pytest.approx(1 / 3), None)
    fixed, missing = dpg.fixed_tile(questions, {1: False, 2: True, 3: True})
    assert fixed == {3: 0.0, 1: 0.0, 2: 0.0} and missing == 0
    # A missing parent fails the image, unless an earlier zero parent stopped the check first.
    assert dpg.official_tile({2: row(2, (1,), 1)}, {2: True})[1].startswith("missing parent")
    stop = {5: row(5, (0,), 1), 2: row(2, (5, 1), 2)}
    assert dpg.official_tile(stop, {5: False, 2: True}) == (0.0, None)
    assert dpg.fixed_tile({2: row(2, (1,), 1)}, {2: True}) == ({2: 1.0}, 1)


def test_grid_layout_at_the_crop_size(tiles, shared_suites, tmp_path):
    suite = load_suite("dpg", shared_suites)
    sample = suite.load_samples(FIXTURE)[1]
    root = tmp_path / "root"
    relpaths = [suite.image_relpath(sample, j) for j in range(4)]
    for j, rel in enumerate(relpaths):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (R, R), TILE_COLORS[j]).save(root / rel)
    suite.assemble(sample, root, relpaths[:3] + ["tiles/0/missing.png"])
    assert not (root / "0.png").exists()  # a missing tile leaves no grid
    suite.assemble(sample, root, relpaths)
    grid = Image.open(root / "0.png").convert("RGB")
    assert grid.size == (2 * R, 2 * R)
    for j, (x, y) in enumerate(dpg.TILE_ORIGINS):
        assert grid.getpixel((x * R + R // 2, y * R + R // 2)) == TILE_COLORS[j]
    with pytest.raises(UnoError, match="1 or 4 images"):
        suite.assemble(sample, root, relpaths[:2])
    with pytest.raises(UnoError, match="mplug|dpg"):
        suite.load_judge("mplug-large", {})


def test_end_to_end_official_and_fixed_by_hand(tiles, shared_suites, tmp_path):
    run = {"suite": "dpg", "data_dir": shared_suites, "prompts_file": FIXTURE, "show_progress": False}
    with chat_server(respond) as server:
        options = {"base_url": server.url, "model": "some-vlm", "backoff": "0.01"}
        first = run_suite(RunOptions(**run, model="folder", ckpt=str(tiles), sampler={"width": R, "height": R},
                                     out=tmp_path / "a", judge="openai", judge_options=options))
        calls = server.calls
        images = first.run_dir / "images"
        again = run_suite(RunOptions(**run, images=images, out=tmp_path / "b", judge="openai",
                                     judge_options=options, stages=("score", "summarize")))
        assert server.calls == calls  # same images: every answer from the judge cache
        # Another tool's folder holds only the official grids: R comes from the grid, the crops are
        # the same pixels, so the cache answers them too.
        grids = tmp_path / "grids_only"
        grids.mkdir()
        for item in ITEMS:
            (grids / f"{item}.png").write_bytes((images / f"{item}.png").read_bytes())
        external = run_suite(RunOptions(**run, images=grids, out=tmp_path / "e", judge="openai",
                                        judge_options=options, stages=("score", "summarize")))
        assert server.calls == calls and external.summary["results"]["official"] == first.summary["results"]["official"]
        recording = tmp_path / "dpg.jsonl"
        run_suite(RunOptions(**run, images=images, out=tmp_path / "c", judge="openai",
                             judge_options={**options, "record": str(recording)}, stages=("score", "summarize")))
    replayed = run_suite(RunOptions(**run, images=images, out=tmp_path / "d", judge="replay",
                                    judge_options={"recording": str(recording)}, stages=("score", "summarize")))
    assert calls == 4 * 14  # 14 distinct questions, on each of 4 tiles
    for item in ITEMS:
        assert Image.open(images / f"{item}.png").size == (2 * R, 2 * R)
    records = read_lines(first.run_dir / "records.jsonl")
    assert {tuple(r["crop"]) for r in records if r["sample_index"] == 1} == {(R, 0, 2 * R, R)}
    results = first.summary["results"]
    official, fixed = results["official"], results["fixed"]
    # Items: 0 -> (1 + 1/4 + 1/2 + 3/4)/4; 1 -> (1 + 1/3 + 1 + 1/3)/4 (row order: the child escapes);
    # 2 -> last run only: 1; 3 -> "Yes." normalised: 1; partiprompts97 dropped (its parent row was skipped).
    assert official["score"] == pytest.approx(100 * (0.625 + 2 / 3 + 1 + 1) / 4) == results["overall"]
    assert official["items_scored"] == 4 and official["items_dropped"] == 1
    assert official["dropped_reasons"] == {"official loader quirk, missing parent": 1}
    assert official["l2"] == pytest.approx({"entity - whole": 100.0, "attribute - color": 0.0,
                                            "relation - spatial": 100.0, "other - count": 100.0})
    assert official["l1"] == pytest.approx({"entity": 100.0, "attribute": 0.0, "relation": 100.0, "other": 100.0})
    # Fixed: every row, transitive zeroing, categories over all tiles after zeroing, nothing dropped.
    assert fixed["score"] == pytest.approx(100 * (0.625 + 0.5833333333 + 0.9166666667 + 1 + 1) / 5)
    assert fixed["score_dropped_as_zero"] == pytest.approx(fixed["score"]) and fixed["items_scored"] == 5
    assert fixed["l2"] == pytest.approx({"entity - whole": 100 * 25 / 28, "attribute - color": 100 * 7 / 12,
                                         "relation - spatial": 50.0, "other - count": 100.0,
                                         "attribute - other": 100.0})
    assert fixed["l1"]["attribute"] == pytest.approx(100 * 11 / 16)
    assert results["judge"]["official"] is False and "mPLUG" in results["judge"]["note"]
    assert again.summary["results"]["official"] == official and again.summary["results"]["judge_stats"]["calls"] == 0
    assert replayed.summary["results"]["official"] == official and replayed.summary["results"]["fixed"] == fixed


def test_end_to_end_tiny_transformers_vlm(tiles, shared_suites, tmp_path):
    vlm = make_tiny_vlm(tmp_path / "vlm")
    done = run_suite(RunOptions(suite="dpg", data_dir=shared_suites, prompts_file=FIXTURE, limit=2, model="folder",
                                ckpt=str(tiles), sampler={"width": R, "height": R}, out=tmp_path / "runs",
                                judge="hf", judge_options={"model": str(vlm), "dtype": "float32", "device": "cpu"},
                                show_progress=False))
    summary = done.summary
    assert summary["coverage"]["scored"] == 8 and summary["results"]["judge"]["official"] is False
    records = read_lines(done.run_dir / "records.jsonl")
    assert all(isinstance(q["answer"], str) for r in records for q in r["questions"])
    assert summary["results"]["official"]["items_dropped"] == 1  # partiprompts97, whatever the answers


@pytest.mark.slow
def test_two_ranks_equal_one(tiles, shared_suites, tmp_path, uno_env):
    """torchrun with 2 CPU ranks: each rank assembles its own grids and judges its share through the
    endpoint; records and summary equal a single process's."""
    import subprocess
    import sys

    from conftest import uno_cmd

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    with chat_server(respond) as server:
        args = ["run", "dpg", "--model", "folder", "--ckpt", str(tiles), "--prompts-file", str(FIXTURE),
                "--data-dir", str(shared_suites), "--width", str(R), "--height", str(R), "--judge", "openai",
                "--judge-option", f"base_url={server.url}", "--judge-option", "model=some-vlm"]
        runs = {}
        for name, launcher in (("one", []), ("two", [str(torchrun), "--standalone", "--nproc_per_node", "2"])):
            env = {**uno_env, "UNO_JUDGE_CACHE": str(tmp_path / f"{name}.sqlite")}
            cmd = [*launcher, *uno_cmd(*args, "--run-dir", str(tmp_path / name))[1:]] if launcher else \
                uno_cmd(*args, "--run-dir", str(tmp_path / name))
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, done.stderr
            assert "non-official judge (some-vlm): not DPG-Bench's official VQA judge" in done.stdout
            runs[name] = tmp_path / name
        assert server.calls == 2 * 4 * 14
    one, two = runs["one"], runs["two"]

    def without_stats(obj):  # transport retries depend on the machine's load, not on the protocol
        if isinstance(obj, dict):
            return {k: without_stats(v) for k, v in obj.items() if k != "judge_stats"}
        return obj

    assert without_stats(json.loads((one / "summary.json").read_text())) == \
        without_stats(json.loads((two / "summary.json").read_text()))
    assert [without_stats(r) for r in read_lines(one / "records.jsonl")] == \
        [without_stats(r) for r in read_lines(two / "records.jsonl")]
    for grid in (one / "images").glob("*.png"):
        assert grid.read_bytes() == (two / "images" / grid.name).read_bytes()


def _grid(colors: list[tuple[int, int, int]]) -> Image.Image:
    grid = Image.new("RGB", (2 * R, 2 * R))
    for color, (x, y) in zip(colors, dpg.TILE_ORIGINS, strict=True):
        grid.paste(Image.new("RGB", (R, R), color), (x * R, y * R))
    return grid


def test_files_sharing_an_items_key_are_scored_as_more_images(shared_suites, tmp_path):
    """The official scorer keys a file by its name up to the first "." and scores every file it can open:
    0.png and 0.copy.png are two images of item 0, both in the mean; a non-image is skipped."""
    grids = tmp_path / "grids"
    grids.mkdir()
    for item in ITEMS:
        _grid(TILE_COLORS).save(grids / f"{item}.png")
    run = {"suite": "dpg", "data_dir": shared_suites, "prompts_file": FIXTURE, "show_progress": False,
           "stages": ("score", "summarize"), "judge": "openai"}
    with chat_server(respond) as server:
        options = {"base_url": server.url, "model": "some-vlm", "backoff": "0.01"}
        plain = run_suite(RunOptions(**run, images=grids, out=tmp_path / "plain", judge_options=options))
        _grid([TILE_COLORS[3]] * 4).save(grids / "0.copy.png")  # every tile answered as tile 3: 3/4 each
        (grids / "0.notes.txt").write_text("not an image")
        (grids / "00.png").write_bytes((grids / "0.png").read_bytes())  # another key: ignored
        doubled = run_suite(RunOptions(**run, images=grids, out=tmp_path / "doubled", judge_options=options))
    before, after = plain.summary["results"], doubled.summary["results"]
    assert before["official"]["score"] == pytest.approx(100 * (0.625 + 2 / 3 + 1 + 1) / 4)
    assert after["official"]["score"] == pytest.approx(100 * (0.625 + 2 / 3 + 1 + 1 + 0.75) / 5)
    assert after["official"]["same_key_files"] == {"scored": 1, "skipped": 1}  # 0.notes.txt
    assert before["official"]["same_key_files"] == {"scored": 0, "skipped": 0}
    assert after["fixed"] == before["fixed"]  # the harness variant: one image per item
    assert after["official"]["l2"] == pytest.approx(before["official"]["l2"])  # its last tile answers as 0.png's
    records = {(r["prompt_id"], r["sample_index"]): r for r in read_lines(doubled.run_dir / "records.jsonl")}
    extra = records[("0", 3)]["same_key_files"]
    assert set(extra) == {"0.copy.png", "0.notes.txt"} and extra["0.notes.txt"]["skipped"].startswith("not an image")
    assert extra["0.copy.png"]["score"] == pytest.approx(0.75)
    assert "first '.'" in after["official"]["label"]
